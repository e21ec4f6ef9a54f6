"""A session's worker: sandboxes itself, then runs the session's code one execution at a time.

Runs in the child of a zygote fork. Talks to the server over fd 3 (a stream socket, JSON lines);
fds 1 and 2 are pipes the server reads directly, so output from C code and subprocesses is
captured too. Stdlib only.
"""

import builtins
import ctypes
import datetime as _datetime
import json
import linecache
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import traceback

CHAN_FD = 3
MAX_MESSAGE = 64 << 20

_in_user_code = False
_interrupted = False


def _on_sigint(signum, frame):
    """KeyboardInterrupt only inside user code: a SIGINT that lands while the worker itself is
    reporting a result must not tear the protocol apart."""
    global _interrupted
    _interrupted = True
    if _in_user_code:
        raise KeyboardInterrupt


def _place_fds(fds):
    """Moves the three received fds to 3 (channel), 1 (stdout), 2 (stderr); 0 is /dev/null."""
    high = [os.dup(fd) for fd in fds]
    for fd in fds:
        os.close(fd)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(high[1], 1)
    os.dup2(high[2], 2)
    os.dup2(high[0], CHAN_FD, inheritable=False)
    for fd in high + [devnull]:
        if fd > CHAN_FD:
            os.close(fd)


def _enter_sandbox(lib, policy):
    raw = json.dumps(policy).encode()
    out = ctypes.create_string_buffer(8192)
    rc = lib.dynexec_sandbox_enter(raw, ctypes.c_size_t(len(raw)), out, ctypes.c_size_t(len(out)))
    text = out.value.decode("utf-8", "replace")
    if rc != 0:
        raise RuntimeError(text)
    return json.loads(text)


class Channel:
    def __init__(self):
        self.sock = socket.socket(fileno=CHAN_FD)
        self.reader = self.sock.makefile("rb")

    def send(self, **msg):
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def recv(self):
        line = self.reader.readline(MAX_MESSAGE)
        return json.loads(line) if line else None


def run(lib, msg, fds, zygote_fds, zygote_ctrl):
    """Entry point in the forked child. Returns the exit code; never returns to the zygote loop."""
    import atexit

    atexit._clear()
    signal.set_wakeup_fd(-1)
    zygote_ctrl.detach()
    _place_fds(fds)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    chan = Channel()
    try:
        report = _enter_sandbox(lib, msg["policy"])
    except Exception as e:
        chan.send(ev="sandbox_failed", error=str(e))
        return 71
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, _on_sigint)
    workspace = msg["workspace"]
    _prepare_process(workspace, msg.get("env", {}))
    Session(chan, workspace).serve(report)
    return 0


def _prepare_process(workspace, env):
    os.umask(0o077)
    os.chdir(workspace)
    tmp = os.path.join(workspace, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    os.environ.clear()
    os.environ.update(env)
    # Every temp-dir convention points into the workspace: the shared /tmp is no meeting place
    # (and where the server locked it, not writable at all).
    os.environ.update(
        HOME=workspace,
        TMPDIR=tmp,
        TMP=tmp,
        TEMP=tmp,
        XDG_CACHE_HOME=os.path.join(workspace, ".cache"),
        XDG_CONFIG_HOME=os.path.join(workspace, ".config"),
        MPLCONFIGDIR=os.path.join(workspace, ".config", "matplotlib"),
    )
    import tempfile

    tempfile.tempdir = None
    # fork() copied the zygote's RNG state: every worker would draw the same numbers.
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "matplotlib.pyplot" in sys.modules:
        _patch_show()


_current = None


def _patch_show():
    import matplotlib.pyplot as plt

    def show(*args, **kwargs):
        if _current is not None:
            _current.save_figures()

    plt.show = show


class Session:
    def __init__(self, chan, workspace):
        self.chan = chan
        self.workspace = workspace
        self.namespace = self.fresh_namespace(persistent=True)
        self.exec_id = None
        self.exec_n = 0

    @staticmethod
    def fresh_namespace(persistent):
        ns = {"__name__": "__main__", "__builtins__": builtins}
        if not persistent:
            # What the reference executor pre-seeds every call with.
            ns.update(datetime=_datetime.datetime, json=json, os=os, workspace=os.getcwd())
        return ns

    def serve(self, report):
        global _current
        _current = self
        self.chan.send(ev="ready", pid=os.getpid(), sandbox=report)
        while True:
            req = self.chan.recv()
            if req is None:
                return
            if req.get("op") == "exec":
                self.execute(req)
            elif req.get("op") == "prewarm":
                self.chan.send(ev="prewarmed", error=_prewarm_chart())

    def execute(self, req):
        global _in_user_code, _interrupted
        self.exec_id = req["id"]
        self.exec_n = req.get("n", self.exec_n + 1)
        self.figure_count = 0
        before = _usage()
        me = os.getpid()
        _interrupted = False
        result = {"status": "ok", "error": None, "exit_code": None}
        try:
            _in_user_code = True
            if req.get("language") == "shell":
                result["exit_code"] = self.run_shell(req["code"])
                if result["exit_code"] != 0:
                    result["status"] = "error"
                    result["error"] = {
                        "type": "ShellError",
                        "message": f"Command failed with exit code {result['exit_code']}",
                        "line": None,
                        "traceback": "",
                    }
            else:
                ns = self.namespace if not req.get("fresh") else self.fresh_namespace(persistent=False)
                self.run_python(req["code"], ns)
        except KeyboardInterrupt as e:
            _in_user_code = False
            result["status"] = "interrupted"
            result["error"] = _error_info(e, self.filename)
        except SystemExit as e:
            _in_user_code = False
            if e.code not in (None, 0):
                result["status"] = "error"
                result["error"] = _error_info(e, self.filename)
        except BaseException as e:
            _in_user_code = False
            result["status"] = "oom" if isinstance(e, MemoryError) else "error"
            result["error"] = _error_info(e, self.filename)
        finally:
            _in_user_code = False
            if os.getpid() != me:
                # A process the code forked fell out of the code into this loop: it must not
                # act as the worker (it shares the channel). It ends here.
                os._exit(0 if result["status"] == "ok" else 1)
        if _interrupted and result["status"] == "ok":
            result["status"] = "interrupted"
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        stray = _reap_children()
        after = _usage()
        result.update(
            ev="result",
            id=self.exec_id,
            cpu_ms=int((after[0] - before[0]) * 1000),
            max_rss_kb=after[1],
            stray_processes=stray,
        )
        self.chan.send(**result)

    @property
    def filename(self):
        return f"<exec-{self.exec_n}>"

    def run_python(self, code, ns):
        filename = self.filename
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        compiled = compile(code, filename, "exec", dont_inherit=True)
        exec(compiled, ns)

    def run_shell(self, code):
        # The code is never a process argument: /proc/<pid>/cmdline is readable by every uid,
        # so `sh -c <code>` would show it (and any secret in it) to other sessions. It goes
        # into a 0600 file in the session's own 0700 workspace instead.
        script = os.path.join(self.workspace, ".tmp", f"shell-{self.exec_n}.sh")
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with open(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(code)
        try:
            proc = subprocess.Popen(["/bin/sh", script], cwd=self.workspace, stdin=subprocess.DEVNULL)
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.kill()
                proc.wait()
                raise
        finally:
            try:
                os.unlink(script)
            except OSError:
                pass

    def save_figures(self):
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        nums = plt.get_fignums()
        if not nums:
            return
        os.makedirs("artifacts", exist_ok=True)
        for num in nums:
            self.figure_count += 1
            rel = f"artifacts/figure-{self.exec_n}-{self.figure_count}.png"
            try:
                _save_png_tight(plt.figure(num), rel)
                self.chan.send(ev="artifact", id=self.exec_id, path=rel)
            except Exception as e:
                print(f"could not save figure {num}: {e}", file=sys.stderr)
        plt.close("all")


def _save_png_tight(fig, path):
    """`fig.savefig(path, dpi=100, bbox_inches="tight")` with one render instead of two.

    matplotlib's tight bounding box renders the figure once to measure it and again at the
    cropped size: half of a chart's `plt.show()`. When the measured box lies inside the figure,
    the first render already holds every pixel of the result, so it is cropped and written as
    savefig writes it (PIL, the same metadata); anything else (the box reaches outside the
    figure, another dpi, a transparent or non-default save colour, a non-Agg canvas) goes through
    savefig itself. The crop can place the content up to half a pixel from where savefig would."""
    import matplotlib
    import matplotlib.image
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rc = matplotlib.rcParams
    pad = rc["savefig.pad_inches"]
    plain = (
        type(fig.canvas) is FigureCanvasAgg
        and fig.dpi == 100
        and rc["savefig.transparent"] is False
        and rc["savefig.facecolor"] == "auto"
        and rc["savefig.edgecolor"] == "auto"
        and isinstance(pad, (int, float))
    )
    if not plain:
        fig.savefig(path, dpi=100, bbox_inches="tight")
        return
    canvas = fig.canvas
    with _TicksOfTheDraw() as ticks:
        canvas.draw()
        ticks.reuse()
        box = fig.get_tightbbox(canvas.get_renderer()).padded(pad)
    width, height = fig.get_size_inches()
    if box.x0 < 0 or box.y0 < 0 or box.x1 > width or box.y1 > height:
        fig.savefig(path, dpi=100, bbox_inches="tight")
        return
    dpi = fig.dpi
    rgba = np.asarray(canvas.buffer_rgba())
    # savefig's canvas is the box's size truncated to whole pixels, anchored at its lower left
    bottom, left = round((height - box.y0) * dpi), round(box.x0 * dpi)
    top, right = max(bottom - int(box.height * dpi), 0), left + int(box.width * dpi)
    matplotlib.image.imsave(
        path, rgba[top:bottom, left:right], format="png", origin="upper", dpi=dpi
    )


class _TicksOfTheDraw:
    """Measuring a figure's tight box makes matplotlib compute every axis's ticks again, as its
    draw just did: ~half of the measurement (3-4 ms of a chart here). Between a figure's draw and
    its measurement in `_save_png_tight` nothing changes, so after `reuse()` an axis's ticks are
    the ones its draw computed last (an axis the draw did not reach is computed as usual).
    Without `Axis._update_ticks` (another matplotlib) nothing is patched."""

    def __enter__(self):
        import matplotlib.axis

        self.cls = matplotlib.axis.Axis
        self.original = self.cls.__dict__.get("_update_ticks")
        self.seen = {}
        self.serving = False
        if self.original is not None:
            memo = self

            def _update_ticks(axis):
                if memo.serving:
                    hit = memo.seen.get(id(axis))
                    if hit is not None and hit[0] is axis:
                        return hit[1]
                ticks = memo.original(axis)
                memo.seen[id(axis)] = (axis, ticks)
                return ticks

            self.cls._update_ticks = _update_ticks
        return self

    def reuse(self):
        self.serving = True

    def __exit__(self, *exc):
        if self.original is not None:
            self.cls._update_ticks = self.original
        self.seen.clear()
        return False


def _prewarm_chart():
    """Draws and encodes a throwaway chart the way `plt.show()` saves one, in memory: the pages
    matplotlib touches for a chart are copied from the zygote's now, before the session's first
    chart needs them. Returns None, or why it could not draw."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return "matplotlib.pyplot is not preloaded"
    import io

    try:
        fig, ax = plt.subplots()
        ax.bar(["과일", "채소", "육류"], [3, 1, 2])
        ax.set_title("카테고리별 매출 합계")
        _save_png_tight(fig, io.BytesIO())
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        plt.close("all")


def _usage():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
    return cpu, max(s.ru_maxrss, c.ru_maxrss)


def _reap_children():
    """Reaps what exited (zombies count against RLIMIT_NPROC) and says whether any process the
    code started is still running (the worker is a subreaper, so orphans are its children)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _error_info(exc, filename):
    """The error as the client sees it: `line` is the line in the user's code, and the
    traceback starts at the user's code, not at this worker."""
    line = None
    if isinstance(exc, SyntaxError) and (exc.filename or "").startswith("<exec-"):
        line = exc.lineno
    tb = exc.__traceback__
    frames = traceback.extract_tb(tb) if tb else []
    for frame in frames:
        if frame.filename == filename:
            line = frame.lineno
    if line is None:
        for frame in frames:
            if frame.filename.startswith("<exec-"):
                line = frame.lineno
    user_tb = tb
    while user_tb is not None and not user_tb.tb_frame.f_code.co_filename.startswith("<exec-"):
        user_tb = user_tb.tb_next
    te = traceback.TracebackException(type(exc), exc, user_tb)
    # A KeyboardInterrupt is raised from this file's signal handler: not the user's business.
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != __file__])
    text = "".join(te.format())
    return {"type": type(exc).__name__, "message": str(exc), "line": line, "traceback": text}


if __name__ == "__main__":
    print("worker.py is imported by zygote.py, not run directly", file=sys.stderr)
    sys.exit(2)
