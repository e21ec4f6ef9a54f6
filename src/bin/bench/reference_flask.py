"""The peer of `bench --overhead`: a Flask server shaped like the reference Deep Insight executor
(docs/compat.md) — `POST /execute` runs the code with `exec()` in the server's own process, in a
fresh namespace pre-seeded with datetime/json/os/workspace, stdout and stderr captured in
memory, no sandbox. Flask's development server (werkzeug, threaded), as the reference runs it.

Usage: python reference_flask.py PORT WORKSPACE
"""

import contextlib
import datetime
import io
import json
import os
import sys
import time
import traceback

from flask import Flask, jsonify, request

app = Flask(__name__)
workspace = sys.argv[2]
executions = []


@app.get("/health")
def health():
    return jsonify(status="healthy")


@app.post("/execute")
def execute():
    data = request.get_json(silent=True)
    if data is None or "code" not in data:
        return jsonify(error="No code provided"), 400
    code = data["code"]
    ns = {"datetime": datetime.datetime, "json": json, "os": os, "workspace": workspace}
    out, err = io.StringIO(), io.StringIO()
    t0 = time.time()
    error = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            exec(code, ns)
    except Exception as e:
        error = {"type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()}
    executions.append({"code": code[:200], "stdout": out.getvalue(), "stderr": err.getvalue()})
    return jsonify(
        session_id="reference",
        execution_num=len(executions),
        status="failed" if error else "completed",
        stdout=out.getvalue(),
        stderr=err.getvalue(),
        error=error,
        execution_time_ms=int((time.time() - t0) * 1000),
        total_executions=len(executions),
        is_session_complete=False,
        s3_backup="skipped_until_session_end",
    )


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
