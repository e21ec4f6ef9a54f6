"""`print(1)` through the Python client, raw httpx and MCP (the official SDK), in one
interpreter against one server (bench `sdk_rows`). argv: base URL, clients/python/src, runs.
Prints {name: [p50_ms, p99_ms]} as JSON."""

import asyncio
import json
import sys
import time

sys.path.insert(0, sys.argv[2])
import dynamic_executor as dx  # noqa: E402
import httpx  # noqa: E402

base, runs = sys.argv[1], int(sys.argv[3])


def p(ts):
    ts.sort()
    return ts[len(ts) // 2], ts[min(len(ts) - 1, int(len(ts) * 0.99))]


def timed(f):
    for _ in range(20):
        f()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        out.append((time.perf_counter() - t0) * 1000)
    return p(out)


c = dx.Client(base)
s = c.session()
figures = {"sdk": timed(lambda: s.run("print(1)"))}
h = httpx.Client()
url = f"{base}/v1/sessions/{s.id}/executions"
figures["raw"] = timed(lambda: h.post(url, json={"code": "print(1)"}).json())
s.delete()


async def over_mcp():
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(f"{base}/mcp") as (read, write):
        async with ClientSession(read, write) as cs:
            await cs.initialize()
            for _ in range(20):
                await cs.call_tool("run_python", {"code": "print(1)"})
            out = []
            for _ in range(runs):
                t0 = time.perf_counter()
                r = await cs.call_tool("run_python", {"code": "print(1)"})
                out.append((time.perf_counter() - t0) * 1000)
                assert not r.is_error, r
            return p(out)


try:
    figures["mcp"] = asyncio.run(over_mcp())
except ImportError:
    pass
print(json.dumps(figures))
