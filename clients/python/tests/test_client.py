"""The Python client against the real server (and through HAProxy, the ALB's stand-in)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import dynamic_executor as dx


def test_a_session_keeps_its_state_and_is_deleted_on_exit(server):
    with dx.Client(server.base) as c:
        with c.session() as s:
            r = s.run("x = 41")
            assert r.ok and r.status == "ok"
            r = s.run("print(x + 1)")
            assert r.stdout == "42\n"
            assert r.trace_id and len(r.trace_id) == 32
            sid = s.id
            assert s.run("echo hi", language="shell").stdout == "hi\n"
        with pytest.raises(dx.SessionNotFound):
            c.attach(sid)


def test_errors_are_typed(server):
    with dx.Client(server.base) as c, c.session() as s:
        r = s.run("def f():\n    raise ValueError('bad')\nf()")
        assert r.status == "error"
        assert r.error is not None and r.error.type == "ValueError" and r.error.line == 2
        with pytest.raises(dx.BadRequest):
            s.run("print(1)", timeout=-1)
        with pytest.raises(dx.BadRequest):
            s.upload(__file__, "../escape.py")
        with pytest.raises(dx.NotFound):
            s.download("nope.txt", "/dev/null")


def test_files_and_artifacts_round_trip(server, tmp_path):
    src = tmp_path / "매출.csv"
    src.write_text("카테고리,금액\n과일,3\n", encoding="utf-8")
    with dx.Client(server.base) as c, c.session() as s:
        up = s.upload(src, "data/매출.csv")
        assert up["size"] == src.stat().st_size
        r = s.run("import pandas as pd\ndf = pd.read_csv('data/매출.csv')\ndf.to_csv('artifacts/out.csv', index=False)\nprint(df['금액'].sum())")
        assert r.stdout == "3\n" and r.artifacts == ["artifacts/out.csv"]
        assert any(f["path"] == "data/매출.csv" for f in s.files())
        assert [a["path"] for a in s.artifacts()] == ["artifacts/out.csv"]
        out = s.download("artifacts/out.csv", tmp_path / "back.csv")
        assert out.read_text(encoding="utf-8") == "카테고리,금액\n과일,3\n"


def test_stream_yields_output_while_the_code_runs(server):
    with dx.Client(server.base) as c, c.session() as s:
        t0 = time.monotonic()
        seen = []
        for ev in s.stream("import time\nprint('early', flush=True)\ntime.sleep(2)\nprint('late')"):
            seen.append((ev.type, round(time.monotonic() - t0, 1)))
            if ev.type == "stdout" and ev.text == "early\n":
                assert time.monotonic() - t0 < 1.5
            if ev.type == "result":
                assert ev.result is not None and ev.result.stdout == "early\nlate\n"
        assert seen[-1][0] == "result"


def test_a_stream_cut_by_the_proxy_resumes_without_loss(make_server, haproxy):
    # The proxy drops a connection silent for 2 s; the code is silent for 3 s, three times.
    srv = make_server()
    lb = haproxy([srv], timeout_server_s=2)
    with dx.Client(lb.base) as c, c.session() as s:
        code = "import time\nfor i in range(4):\n    print(i, flush=True)\n    time.sleep(3 if i < 3 else 0)"
        evs = list(s.stream(code))
        seqs = [e.seq for e in evs]
        assert seqs == list(range(len(seqs))), "no gap, no duplicate"
        assert "".join(e.text for e in evs if e.type == "stdout") == "0\n1\n2\n3\n"
        assert evs[-1].result is not None and evs[-1].result.status == "ok"


def test_the_sticky_cookie_keeps_a_client_on_its_instance(make_server, haproxy):
    a, b = make_server(), make_server()
    lb = haproxy([a, b])
    with dx.Client(lb.base) as c, c.session() as s:
        s.run("n = 0")
        for i in range(1, 9):
            assert s.run("n += 1\nprint(n)").stdout == f"{i}\n"


def test_the_async_client(server):
    async def main() -> None:
        async with dx.AsyncClient(server.base) as c:
            s = await c.session()
            async with s:
                r = await s.run("print('async')")
                assert r.stdout == "async\n"
                types = [ev.type async for ev in s.stream("print(1)\nprint(2)")]
                assert types[-1] == "result" and "stdout" in types

    asyncio.run(main())


def test_profile_verify_and_chart(server, tmp_path):
    src = tmp_path / "sales.csv"
    src.write_text("날짜,카테고리,금액\n2024-01-01,과일,1000\n2024-01-02,채소,2500\n", encoding="utf-8")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"calculations": [
        {"id": "total", "value": 3500, "formula": "SUM(금액)", "source_file": "data/sales.csv", "importance": "high"},
        {"id": "wrong", "value": 1, "formula": "COUNT(*)", "source_file": "data/sales.csv", "importance": "high"},
    ]}, ensure_ascii=False), encoding="utf-8")
    with dx.Client(server.base) as c, c.session() as s:
        s.upload(src, "data/sales.csv")
        s.upload(meta, "artifacts/calculation_metadata.json")
        p = s.profile("data/sales.csv", format="markdown")
        assert p["rows"] == 2 and [col["dtype"] for col in p["columns"]] == ["date", "string", "int"]
        assert "2 rows × 3 columns" in p["markdown"]
        v = s.verify()
        assert (v["verified"], v["mismatched"]) == (1, 1)
        assert v["output"] == "artifacts/citations.json"
        ch = s.chart("bar", "artifacts/sales", source={"path": "data/sales.csv", "x": "카테고리", "y": "금액"},
                     title="매출", formats=["png", "svg"])
        assert [a["path"] for a in ch["artifacts"]] == ["artifacts/sales.png", "artifacts/sales.svg"]
        assert ch["data"]["x"] == ["과일", "채소"]
        assert {a["path"] for a in s.artifacts()} >= {"artifacts/sales.png", "artifacts/citations.json"}
        with pytest.raises(dx.BadRequest):
            s.chart("bar", "artifacts/x")
        with pytest.raises(dx.NotFound):
            s.profile("data/none.csv")

    async def main() -> None:
        async with dx.AsyncClient(server.base) as c:
            s = await c.session()
            async with s:
                (await c.request("PUT", f"/v1/sessions/{s.id}/files/data/sales.csv", content=src.read_bytes()))
                p = await s.profile("data/sales.csv")
                assert p["rows"] == 2
                ch = await s.chart("pie", "artifacts/pie", data={"x": ["a", "b"], "series": [{"name": "n", "y": [1, 2]}]})
                assert ch["artifacts"][0]["mime"] == "image/png"

    asyncio.run(main())
