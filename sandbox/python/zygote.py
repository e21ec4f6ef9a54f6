"""The zygote: pre-imports the data stack once, then forks one sandboxed worker per session.

Started by the server as `python -I zygote.py <sandbox-lib> <preload,modules>` with an explicit
environment and exactly one extra fd (3): a SOCK_SEQPACKET control socket. It never runs user
code and never holds a secret; it must stay single-threaded so that fork() is safe.
Stdlib only: it runs before (and regardless of) what the venv has installed.
"""

import ctypes
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import worker  # noqa: E402  (needs the path above; -I leaves the script dir off sys.path)

CTRL_FD = 3
PR_SET_CHILD_SUBREAPER = 36


def send(ctrl, **msg):
    ctrl.send(json.dumps(msg).encode())


def preload(modules):
    loaded, missing = [], []
    for name in modules:
        if not name:
            continue
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as e:  # a missing optional package must not stop the zygote
            missing.append({"module": name, "error": f"{type(e).__name__}: {e}"})
    if "matplotlib.pyplot" in sys.modules:
        warm_matplotlib()
    return loaded, missing


def warm_matplotlib():
    """Draws one figure so fonts, the Agg canvas and PNG writer are loaded before fork, and
    makes the default font Hangul-capable when NanumGothic is installed."""
    import io

    import matplotlib
    import matplotlib.font_manager as fm
    import matplotlib.pyplot as plt

    names = {f.name for f in fm.fontManager.ttflist}
    if "NanumGothic" in names:
        matplotlib.rcParams["font.family"] = ["NanumGothic", "DejaVu Sans"]
        matplotlib.rcParams["axes.unicode_minus"] = False
        keep_hangul_through_styles()
    fig, ax = plt.subplots()
    ax.bar(["가", "b"], [1, 2])
    ax.set_title("warm-up 한글")
    worker._save_png_tight(fig, io.BytesIO())  # the path plt.show() takes
    plt.close("all")


def keep_hangul_through_styles():
    """A style (seaborn-v0_8-*, ggplot, ...) resets font.family, so Hangul set up before it
    would render as boxes: after every `style.use` (which `style.context` calls too),
    NanumGothic is appended to the families as the glyph fallback. The style's own fonts stay
    first for Latin text; code that sets NanumGothic itself after the style is unaffected."""
    import matplotlib
    import matplotlib.style
    import matplotlib.style.core as core

    original = core.use

    def use(style):
        original(style)
        families = list(matplotlib.rcParams["font.family"])
        if "NanumGothic" not in families:
            matplotlib.rcParams["font.family"] = families + ["NanumGothic"]

    use.__doc__ = original.__doc__
    core.use = use
    matplotlib.style.use = use


def thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def main():
    lib_path = sys.argv[1]
    modules = sys.argv[2].split(",") if len(sys.argv) > 2 else []
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctrl = socket.socket(fileno=CTRL_FD)
    # PyDLL: the call keeps the GIL, so a fork inside the sandbox (PID namespace) leaves the
    # child with a consistent interpreter.
    lib = ctypes.PyDLL(lib_path)
    loaded, missing = preload(modules)
    gc.collect()
    gc.freeze()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    threads = thread_count()
    if threads != 1:
        send(ctrl, ev="fatal", error=f"zygote has {threads} threads after preload; fork would be unsafe")
        return 1

    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # Only exits wake the loop: workers are stopped and continued around every execution.
    lib.dynexec_sigchld_exits_only()
    send(ctrl, ev="ready", pid=os.getpid(), python=sys.version.split()[0], preloaded=loaded, missing=missing)

    while True:
        ready, _, _ = select.select([ctrl, wake_r], [], [])
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
            reap(ctrl)
        if ctrl in ready:
            try:
                data, fds, _, _ = socket.recv_fds(ctrl, 1 << 16, 8)
            except InterruptedError:
                continue
            if not data:
                return 0  # the server is gone: workers follow through PDEATHSIG
            msg = json.loads(data)
            if msg.get("op") == "spawn":
                spawn(ctrl, lib, msg, fds, (wake_r, wake_w))
            else:
                for fd in fds:
                    os.close(fd)


def reap(ctrl):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send(ctrl, ev="exited", pid=pid, status=status)


def spawn(ctrl, lib, msg, fds, zygote_fds):
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = worker.run(lib, msg, fds, zygote_fds, ctrl)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    send(ctrl, ev="spawned", req=msg.get("req"), pid=pid)


if __name__ == "__main__":
    sys.exit(main())
