"""Fixtures: the real dynamic-executor binary on a loopback port (and HAProxy in front of it)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile
import threading
import time

import httpx
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


def _binary() -> str:
    if os.environ.get("DYNEXEC_BIN"):
        return os.environ["DYNEXEC_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR") or str(pathlib.Path.home() / ".cache/dynamic-executor/target")
    return str(pathlib.Path(target) / "debug" / "dynamic-executor")


def _python() -> str:
    if os.environ.get("EXECUTOR_PYTHON"):
        return os.environ["EXECUTOR_PYTHON"]
    if os.geteuid() == 0:
        return "/opt/dynamic-executor/venv/bin/python3"
    return str(pathlib.Path.home() / ".local/share/dynamic-executor/venv/bin/python3")


class Server:
    _next_uid = [69000]

    def __init__(self, *args: str) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        os.chmod(self.tmp.name, 0o711)
        uid = Server._next_uid[0]
        Server._next_uid[0] += 64
        self.proc = subprocess.Popen(
            [_binary(), "--bind", "127.0.0.1:0", "--workspace-root", f"{self.tmp.name}/ws",
             "--store-dir", f"{self.tmp.name}/store", "--python", _python(),
             "--uid-base", str(uid), "--uid-count", "64", "--warm-workers", "1",
             "--drain-grace-s", "0.5", "--drain-timeout-s", "5", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.base = ""
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                if not self.base and '"listening"' in line:
                    self.base = "http://" + json.loads(line)["fields"]["addr"]
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(30), "the server did not start"
        deadline = time.time() + 60
        while time.time() < deadline:
            if httpx.get(f"{self.base}/health").json().get("zygote") == "warm":
                return
            time.sleep(0.05)
        raise AssertionError("the zygote did not warm up")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.tmp.cleanup()


class Haproxy:
    def __init__(self, servers: list, timeout_server_s: int) -> None:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.tmp = tempfile.TemporaryDirectory()
        backends = "".join(
            f"  server s{i} {srv.base.removeprefix('http://')} cookie s{i}\n" for i, srv in enumerate(servers)
        )
        cfg = pathlib.Path(self.tmp.name) / "haproxy.cfg"
        cfg.write_text(
            f"defaults\n  mode http\n  timeout connect 5s\n  timeout client {timeout_server_s}s\n"
            f"  timeout server {timeout_server_s}s\n"
            f"frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n"
            f"backend be\n  balance roundrobin\n  cookie EXECUTOR insert indirect nocache\n{backends}"
        )
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{self.base}/health")
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("haproxy did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.tmp.cleanup()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def make_server():
    made = []

    def make(*args: str) -> Server:
        s = Server(*args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def haproxy():
    made = []

    def make(servers: list, timeout_server_s: int = 60) -> Haproxy:
        h = Haproxy(servers, timeout_server_s)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
