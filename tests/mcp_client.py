"""The official MCP Python SDK against our /mcp (run by tests/mcp.rs with the tools venv).

argv: base URL, a session id made over REST (holding `rest_value = 7`) or `-`. Prints one JSON line
per check; the Rust test asserts on them.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

BASE, REST_SESSION = sys.argv[1], sys.argv[2]


def out(name, value):
    print(json.dumps({"check": name, "value": value}), flush=True)


def texts(result):
    return [c.text for c in result.content if c.type == "text"]


async def main():
    async with streamable_http_client(f"{BASE}/mcp") as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            out("server", init.server_info.name)
            tools = await s.list_tools()
            out("tools", sorted(t.name for t in tools.tools))
            out("run_python_schema", tools.tools[[t.name for t in tools.tools].index("run_python")].input_schema)

            # state kept across calls, in this MCP session's own executor session
            r1 = await s.call_tool("run_python", {"code": "x = 41"})
            r2 = await s.call_tool("run_python", {"code": "print(x + 1)"})
            res = json.loads(texts(r2)[0])
            out("stateful", {"error1": r1.is_error, "stdout": res["stdout"], "session": res["session_id"]})

            # a chart comes back as image content beside its artifact path
            chart = await s.call_tool("run_python", {"code": (
                "import matplotlib.pyplot as plt\n"
                "plt.bar(['가', '나'], [1, 2])\n"
                "plt.savefig('artifacts/chart.png')\n")})
            images = [c for c in chart.content if c.type == "image"]
            out("chart", {
                "is_error": chart.is_error,
                "images": [(c.mime_type, c.data[:12]) for c in images],
                "texts": texts(chart)[1:],
            })

            # files in and out
            up = await s.call_tool("upload_file", {"path": "data/a.csv", "content": "a,b\n1,2\n"})
            rd = await s.call_tool("read_file", {"path": "data/a.csv"})
            ls = await s.call_tool("list_files", {})
            arts = await s.call_tool("list_artifacts", {})
            out("files", {
                "upload_error": up.is_error,
                "read": texts(rd)[0],
                "listed": sorted(f["path"] for f in json.loads(texts(ls)[0])["files"]),
                "artifacts": [a["path"] for a in json.loads(texts(arts)[0])["artifacts"]],
            })

            # errors are tool errors with our codes
            bad = await s.call_tool("read_file", {"path": "../../etc/passwd"})
            missing = await s.call_tool("read_file", {"path": "nope.txt"})
            exc = await s.call_tool("run_python", {"code": "1/0"})
            out("errors", {
                "bad_path": [bad.is_error, json.loads(texts(bad)[0])["error"]["code"]],
                "missing": [missing.is_error, json.loads(texts(missing)[0])["error"]["code"]],
                "exception": [exc.is_error, json.loads(texts(exc)[0])["error"]["type"]],
            })

            # the REST client's session, named by id ("-": none to share)
            if REST_SESSION == "-":
                shared = None
            else:
                shared = await s.call_tool("run_python", {"code": "print(rest_value * 6)", "session_id": REST_SESSION})
            if shared is not None:
                out("shared", json.loads(texts(shared)[0])["stdout"])

            shell = await s.call_tool("run_shell", {"command": "echo hi from $0"})
            out("shell", json.loads(texts(shell)[0])["stdout"])

            # the analytics tools over a file of the session
            await s.call_tool("upload_file", {"path": "data/sales.csv", "content": (
                "날짜,카테고리,금액\n2024-01-01,과일,1000\n2024-01-02,채소,2500\n2024-01-03,과일,500\n")})
            md = await s.call_tool("profile_dataset", {"path": "data/sales.csv", "format": "markdown"})
            await s.call_tool("upload_file", {"path": "artifacts/calculation_metadata.json", "content": json.dumps(
                {"calculations": [
                    {"id": "c1", "value": 4000, "formula": "SUM(금액)", "source_file": "./data/sales.csv", "importance": "high"},
                    {"id": "c2", "value": 2, "formula": "COUNT(*) WHERE 카테고리 = '과일'", "source_file": "./data/sales.csv", "importance": "high"},
                    {"id": "c3", "value": 9, "formula": "MAX(금액)", "source_file": "./data/sales.csv", "importance": "medium"}]},
                ensure_ascii=False)})
            ver = await s.call_tool("verify_calculations", {})
            chart = await s.call_tool("render_chart", {
                "kind": "bar", "source": {"path": "data/sales.csv", "x": "카테고리", "y": "금액"},
                "title": "카테고리별", "output": "artifacts/by_category"})
            bad = await s.call_tool("render_chart", {"kind": "bar", "output": "artifacts/x"})
            report = json.loads(texts(ver)[0])
            out("analytics", {
                "profile": [md.is_error, texts(md)[0]],
                "verify": [ver.is_error, report["verified"], report["mismatched"], report["citations"]],
                "chart": [chart.is_error, json.loads(texts(chart)[0])["artifacts"][0]["path"],
                          [c.mime_type for c in chart.content if c.type == "image"]],
                "bad_chart": [bad.is_error, json.loads(texts(bad)[0])["error"]["code"]],
            })


asyncio.run(main())
