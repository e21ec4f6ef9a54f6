#!/usr/bin/env python3
"""Where one keep-alive `print(1)` spends its time (#16): starts the release server, runs
`print(1)` back to back from a stdlib HTTP client, records the syscalls that mark each stage
with `perf record` (tracepoints, filtered to a few syscalls so the recording costs little) on
the client, the server and the session's worker, and prints the median time of every stage.

    scripts/exec-budget.py [N]            # N executions (default 1000)
    COMPAT=1 scripts/exec-budget.py       # compat /execute, a new connection per call
    BIN=dir scripts/exec-budget.py        # a server binary (and python/ sandbox dir) elsewhere

Needs `perf` (Debian: linux-perf) and root. Stages are between syscall boundaries, so each
includes the wake-up of whoever acts next; perf adds ~1-2 µs per recorded syscall.
"""

import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get(
    "CARGO_TARGET_DIR", os.path.join(os.path.expanduser("~"), ".cache", "dynamic-executor", "target")
)  # as scripts/common.sh
SENDTO, RECVFROM, WRITE, WRITEV, KILL = 44, 45, 1, 20, 62  # x86_64
SIGCONT, SIGSTOP = 18, 19
STAGES = {
    "sent": "client: request written",
    "s_read": "server: request read from the socket",
    "s_alive": "server: request parsed, routed, execution task started (worker alive check)",
    "s_send": "server: artifact tracker reset, OOM counter read, request sent to the worker",
    "s_cont": "server: worker continued (SIGCONT)",
    "w_recv": "worker: request received",
    "w_write": "worker: code compiled and run up to its output",
    "w_send": "worker: output flushed, children reaped, usage read, result sent",
    "s_result": "server: result received",
    "s_stop": "server: output drained, OOM counter read, tracker read, result recorded, worker stopped (SIGSTOP)",
    "s_writev": "server: result handed to the request, response written",
    "c_recv": "client: response read",
}


def request(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"content-type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def start_server(work):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    bin_dir = os.environ.get("BIN", os.path.join(TARGET, "release"))
    sandbox = os.path.join(os.environ["BIN"], "python") if "BIN" in os.environ else os.path.join(ROOT, "sandbox", "python")
    env = dict(os.environ, EXECUTOR_SANDBOX_DIR=sandbox, EXECUTOR_LOG="warn")
    srv = subprocess.Popen(
        [os.path.join(bin_dir, "dynamic-executor"), "--store-dir", f"{work}/store", "--bind", f"127.0.0.1:{port}",
         "--uid-base", "93000", "--uid-count", "100", "--workspace-root", f"{work}/ws",
         "--max-executions", "100000"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if json.loads(request(conn, "GET", "/health")[1]).get("zygote") == "warm":
                return srv, conn
        except (OSError, http.client.HTTPException, ValueError):
            conn = http.client.HTTPConnection("127.0.0.1", port)
        time.sleep(0.05)
    srv.kill()
    sys.exit("the server did not become warm")


def parse(path, client, worker):
    pat = re.compile(r"^\s*(\S+)\s+(\d+)\s+([\d.]+):\s+raw_syscalls:sys_(enter|exit):\s+NR (\d+)\s*(.*)$")
    rows, cur = [], None
    out = subprocess.run(["perf", "script", "-i", path, "-F", "comm,tid,time,event,trace"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = pat.match(line)
        if not m:
            continue
        comm, tid, t, kind, nr, rest = m.groups()
        t, nr = float(t) * 1e6, int(nr)
        who = "C" if tid == client else "W" if tid == worker else "S" if comm.startswith("tokio") else None
        if who is None:
            continue
        ret = int(rest.split("=")[-1]) if kind == "exit" and "=" in rest else None
        args = rest.strip("()").split(", ") if kind == "enter" else []
        if who == "C" and kind == "enter" and nr == RECVFROM:
            cur = {"sent": t}
            continue
        if cur is None:
            continue

        def mark(name):
            cur.setdefault(name, t)

        sig = int(args[1], 16) if nr == KILL and kind == "enter" else None
        if who == "S" and kind == "exit" and nr == RECVFROM and ret and ret > 0:
            mark("s_result" if "w_send" in cur else "s_read")
        elif who == "S" and sig == 0:
            mark("s_alive")
        elif who == "S" and sig == SIGCONT:
            mark("s_cont")
        elif who == "S" and sig == SIGSTOP:
            mark("s_stop")
        elif who == "S" and kind == "enter" and nr == SENDTO and "s_read" in cur:
            mark("s_send")
        elif who == "S" and kind == "enter" and nr == WRITEV:
            mark("s_writev")
        elif who == "W" and kind == "exit" and nr == RECVFROM and ret and ret > 0:
            mark("w_recv")
        elif who == "W" and kind == "enter" and nr == WRITE and args[0] == "1":
            mark("w_write")
        elif who == "W" and kind == "enter" and nr == SENDTO:
            mark("w_send")
        elif who == "C" and kind == "exit" and nr == RECVFROM and ret and ret > 0:
            cur["c_recv"] = t
            if all(k in cur for k in STAGES):
                rows.append(cur)
            cur = None
    return rows


def main():
    if shutil.which("perf") is None:
        sys.exit("perf is not installed (apt-get install linux-perf)")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    work = tempfile.mkdtemp(prefix="exec-budget-")
    os.chmod(work, 0o711)
    srv, conn = start_server(work)
    try:
        compat = bool(os.environ.get("COMPAT"))
        if compat:
            path = "/execute"
            request(conn, "POST", path, {"code": "print(1)"})
            sid = json.loads(request(conn, "GET", "/v1/sessions")[1])["sessions"][0]["id"]
        else:
            sid = json.loads(request(conn, "POST", "/v1/sessions", {})[1])["id"]
            path = f"/v1/sessions/{sid}/executions"

        def call():
            c = http.client.HTTPConnection(conn.host, conn.port) if compat else conn
            request(c, "POST", path, {"code": "print(1)"})
            if compat:
                c.close()

        for _ in range(50):
            call()
        info = json.loads(request(conn, "GET", f"/v1/sessions/{sid}")[1])
        worker = str(info["sandbox"]["worker_pid"])
        untraced = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            untraced.append((time.perf_counter() - t0) * 1e6)
        data = os.path.join(work, "perf.data")
        only = " || ".join(f"id == {x}" for x in (SENDTO, RECVFROM, WRITE, WRITEV, KILL))
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-e", "raw_syscalls:sys_enter", "--filter", only,
             "-e", "raw_syscalls:sys_exit", "--filter", only,
             "-p", ",".join([str(srv.pid), str(os.getpid()), worker]), "-o", data],
            stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        traced = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            traced.append((time.perf_counter() - t0) * 1e6)
        time.sleep(0.5)
        perf.send_signal(2)
        perf.wait()
        rows = parse(data, str(os.getpid()), worker)
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(work, ignore_errors=True)
    if not rows:
        sys.exit("no complete execution in the recording")
    keys = sorted(STAGES, key=lambda k: statistics.median(r[k] - r["sent"] for r in rows))
    print(f"{len(rows)} of {n} executions; client round trip p50 {statistics.median(untraced):.0f} µs "
          f"untraced, {statistics.median(traced):.0f} µs while recorded\n")
    print("| stage (ends when …) | p50 µs |")
    print("|---|---|")
    for a, b in zip(keys, keys[1:]):
        print(f"| {STAGES[b]} | {statistics.median(r[b] - r[a] for r in rows):.0f} |")
    print(f"| **request written → response read** | **{statistics.median(r['c_recv'] - r['sent'] for r in rows):.0f}** |")


if __name__ == "__main__":
    main()
