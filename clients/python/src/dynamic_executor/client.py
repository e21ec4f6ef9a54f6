"""``Client`` (blocking) and ``AsyncClient``: sessions, runs, streams, files.

Both keep the load balancer's sticky cookie (httpx keeps cookies), send an ``Idempotency-Key``
with every execution and, when the connection is lost, send it again: the server attaches to
the execution already running (or answers its stored result) instead of running the code twice.
A stream that breaks resumes from the execution's journal with ``Last-Event-ID``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional

import httpx

from . import errors
from .models import Event, Execution
from .sse import Parser, events

DEFAULT_TIMEOUT = 600.0
RETRIES = 3


def _check(r: httpx.Response) -> httpx.Response:
    if r.status_code >= 400:
        try:
            body: Any = r.json()
        except ValueError:
            body = r.text
        raise errors.from_response(r.status_code, body)
    return r


def _exec_body(code: str, language: str, timeout: Optional[float]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"code": code, "language": language}
    if timeout is not None:
        body["timeout_s"] = timeout
    return body


def _chart_body(
    kind: str,
    output: str,
    source: Optional[Dict[str, Any]],
    data: Optional[Dict[str, Any]],
    **options: Any,
) -> Dict[str, Any]:
    body: Dict[str, Any] = {"kind": kind, "output": output}
    if source is not None:
        body["source"] = source
    if data is not None:
        body["data"] = data
    body.update({k: v for k, v in options.items() if v is not None})
    if "formats" in body:
        body["formats"] = list(body["formats"])
    return body


def _verify_body(metadata: str, output: Optional[str], tolerance: float) -> Dict[str, Any]:
    body: Dict[str, Any] = {"metadata": metadata, "tolerance": tolerance}
    if output is not None:
        body["output"] = output
    return body


def _quote_path(path: str) -> str:
    """A workspace path as URL segments. Each is percent-encoded, and ``.``/``..`` too: a URL
    library would fold them away and send a different path; the server must see (and refuse)
    what was asked."""
    from urllib.parse import quote

    return "/".join(
        seg.replace(".", "%2E") if seg in (".", "..") else quote(seg, safe="") for seg in path.split("/")
    )


def _backoff(attempt: int) -> float:
    return min(0.2 * (2**attempt), 2.0)


class Client:
    """A blocking client: ``with Client(url) as c, c.session() as s: s.run("print(1)")``."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = RETRIES, **httpx_args: Any) -> None:
        self.retries = retries
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(timeout, connect=10.0), **httpx_args)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, retry: bool = True, **kw: Any) -> httpx.Response:
        """One call; on a lost connection tried again (only what is safe to repeat)."""
        for attempt in range(self.retries + 1):
            try:
                return _check(self.http.request(method, path, **kw))
            except httpx.TransportError as e:
                if not retry or attempt == self.retries:
                    raise errors.ConnectionLost(str(e), code="connection_lost") from e
                time.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def session(self, id: Optional[str] = None, *, keep: bool = False) -> "Session":
        """Creates a session (deleted when the ``with`` block ends unless ``keep``)."""
        body = {"id": id} if id else {}
        v = self.request("POST", "/v1/sessions", json=body, retry=False).json()
        return Session(self, v["id"], keep=keep)

    def attach(self, id: str) -> "Session":
        """A session that exists already (created by this or another client, REST or MCP)."""
        self.request("GET", f"/v1/sessions/{id}")
        return Session(self, id, keep=True)


class Session:
    def __init__(self, client: Client, id: str, *, keep: bool = False) -> None:
        self.client, self.id, self.keep = client, id, keep

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.keep:
            self.delete()

    def _path(self, rest: str = "") -> str:
        return f"/v1/sessions/{self.id}{rest}"

    def run(self, code: str, language: str = "python", timeout: Optional[float] = None) -> Execution:
        """Runs ``code`` to its end (the session's variables persist between runs)."""
        key = uuid.uuid4().hex
        r = self.client.request(
            "POST", self._path("/executions"), json=_exec_body(code, language, timeout), headers={"Idempotency-Key": key}
        )
        return Execution.from_json(r.json())

    def stream(self, code: str, language: str = "python", timeout: Optional[float] = None) -> Iterator[Event]:
        """Yields events as the code produces them, the ``result`` event last. A broken stream
        resumes after the last event seen; nothing is lost or repeated."""
        key = uuid.uuid4().hex
        body = _exec_body(code, language, timeout)
        last, exec_id, failures = -1, None, 0
        while True:
            seen = last
            try:
                if exec_id is None:
                    req = self.client.http.build_request(
                        "POST",
                        self._path("/executions"),
                        json=body,
                        headers={"Idempotency-Key": key, "Accept": "text/event-stream"},
                    )
                else:
                    req = self.client.http.build_request(
                        "GET",
                        self._path(f"/executions/{exec_id}/events"),
                        headers={"Accept": "text/event-stream", "Last-Event-ID": str(last)},
                    )
                r = self.client.http.send(req, stream=True)
                try:
                    _check_stream(r)
                    exec_id = r.headers.get("x-execution-id", exec_id)
                    for ev in events(r.iter_lines()):
                        if 0 <= ev.seq <= last:
                            continue
                        last = max(last, ev.seq)
                        yield ev
                        if ev.type == "result":
                            return
                finally:
                    r.close()
                raise httpx.RemoteProtocolError("the stream ended before its result")
            except httpx.TransportError as e:
                # A connection that made progress before it broke does not count as a failure.
                failures = 0 if last > seen else failures + 1
                if failures > self.client.retries:
                    raise errors.ConnectionLost(str(e), code="connection_lost") from e
                time.sleep(_backoff(failures))

    def upload(self, local: "str | Path", path: str) -> Dict[str, Any]:
        data = Path(local).read_bytes()
        return self.client.request("PUT", self._path(f"/files/{_quote_path(path)}"), content=data).json()

    def download(self, path: str, local: "str | Path") -> Path:
        r = self.client.request("GET", self._path(f"/files/{_quote_path(path)}"))
        out = Path(local)
        out.write_bytes(r.content)
        return out

    def files(self) -> List[Dict[str, Any]]:
        return self.client.request("GET", self._path("/files")).json()["files"]

    def artifacts(self) -> List[Dict[str, Any]]:
        return self.client.request("GET", self._path("/artifacts")).json()["artifacts"]

    def profile(self, path: str, format: str = "json", top: int = 5) -> Dict[str, Any]:
        """A data file's profile: per column type, nulls, distinct, range, moments, quartiles,
        most frequent values (``format="markdown"`` adds a compact table as ``markdown``)."""
        body = {"path": path, "format": format, "top": top}
        return self.client.request("POST", self._path("/profile"), json=body).json()

    def verify(
        self,
        metadata: str = "artifacts/calculation_metadata.json",
        output: Optional[str] = None,
        tolerance: float = 0.01,
    ) -> Dict[str, Any]:
        """Recomputes every calculation of the metadata file; writes citations.json."""
        body = _verify_body(metadata, output, tolerance)
        return self.client.request("POST", self._path("/verify"), json=body).json()

    def chart(
        self,
        kind: str,
        output: str,
        *,
        source: Optional[Dict[str, Any]] = None,
        data: Optional[Dict[str, Any]] = None,
        title: str = "",
        x_label: str = "",
        y_label: str = "",
        formats: "tuple[str, ...] | list[str]" = ("png",),
        width: Optional[int] = None,
        height: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Draws a bar/line/pie/scatter/histogram chart from a file (``source``) or values
        (``data``) to ``output``.png/.svg; returns the artifacts and the plotted data."""
        body = _chart_body(kind, output, source, data, title=title, x_label=x_label,
                           y_label=y_label, formats=formats, width=width, height=height)
        return self.client.request("POST", self._path("/charts"), json=body).json()

    def delete(self) -> None:
        try:
            self.client.request("DELETE", self._path())
        except errors.SessionNotFound:
            pass


def _check_stream(r: httpx.Response) -> None:
    if r.status_code >= 400:
        r.read()
        _check(r)


class AsyncClient:
    """The asyncio twin of :class:`Client`."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = RETRIES, **httpx_args: Any) -> None:
        self.retries = retries
        self.http = httpx.AsyncClient(
            base_url=url.rstrip("/"), timeout=httpx.Timeout(timeout, connect=10.0), **httpx_args
        )

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, *, retry: bool = True, **kw: Any) -> httpx.Response:
        import asyncio

        for attempt in range(self.retries + 1):
            try:
                return _check(await self.http.request(method, path, **kw))
            except httpx.TransportError as e:
                if not retry or attempt == self.retries:
                    raise errors.ConnectionLost(str(e), code="connection_lost") from e
                await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    async def session(self, id: Optional[str] = None, *, keep: bool = False) -> "AsyncSession":
        body = {"id": id} if id else {}
        v = (await self.request("POST", "/v1/sessions", json=body, retry=False)).json()
        return AsyncSession(self, v["id"], keep=keep)


class AsyncSession:
    def __init__(self, client: AsyncClient, id: str, *, keep: bool = False) -> None:
        self.client, self.id, self.keep = client, id, keep

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if not self.keep:
            await self.delete()

    def _path(self, rest: str = "") -> str:
        return f"/v1/sessions/{self.id}{rest}"

    async def run(self, code: str, language: str = "python", timeout: Optional[float] = None) -> Execution:
        r = await self.client.request(
            "POST",
            f"/v1/sessions/{self.id}/executions",
            json=_exec_body(code, language, timeout),
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        return Execution.from_json(r.json())

    async def stream(self, code: str, language: str = "python", timeout: Optional[float] = None) -> AsyncIterator[Event]:
        headers = {"Idempotency-Key": uuid.uuid4().hex, "Accept": "text/event-stream"}
        async with self.client.http.stream(
            "POST", f"/v1/sessions/{self.id}/executions", json=_exec_body(code, language, timeout), headers=headers
        ) as r:
            if r.status_code >= 400:
                await r.aread()
                _check(r)
            p = Parser()
            async for line in r.aiter_lines():
                ev = p.feed(line.rstrip("\r"))
                if ev is not None:
                    yield ev
                    if ev.type == "result":
                        return

    async def profile(self, path: str, format: str = "json", top: int = 5) -> Dict[str, Any]:
        body = {"path": path, "format": format, "top": top}
        return (await self.client.request("POST", self._path("/profile"), json=body)).json()

    async def verify(
        self,
        metadata: str = "artifacts/calculation_metadata.json",
        output: Optional[str] = None,
        tolerance: float = 0.01,
    ) -> Dict[str, Any]:
        body = _verify_body(metadata, output, tolerance)
        return (await self.client.request("POST", self._path("/verify"), json=body)).json()

    async def chart(
        self,
        kind: str,
        output: str,
        *,
        source: Optional[Dict[str, Any]] = None,
        data: Optional[Dict[str, Any]] = None,
        title: str = "",
        x_label: str = "",
        y_label: str = "",
        formats: "tuple[str, ...] | list[str]" = ("png",),
        width: Optional[int] = None,
        height: Optional[int] = None,
    ) -> Dict[str, Any]:
        body = _chart_body(kind, output, source, data, title=title, x_label=x_label,
                           y_label=y_label, formats=formats, width=width, height=height)
        return (await self.client.request("POST", self._path("/charts"), json=body)).json()

    async def delete(self) -> None:
        try:
            await self.client.request("DELETE", f"/v1/sessions/{self.id}")
        except errors.SessionNotFound:
            pass
