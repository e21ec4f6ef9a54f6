"""A Strands-style tool: the agent calls ``python_repl(code)``; one session per agent run.

With strands installed, decorate ``python_repl`` with ``@strands.tool``; the function is plain
Python either way. The session is created on first use and kept between calls (variables
persist), and the answer is what an LLM reads best: output, or the error with its line.
"""

from __future__ import annotations

import os

import dynamic_executor as dx

_client = dx.Client(os.environ.get("DYNAMIC_EXECUTOR_URL", "http://localhost:8080"))
_session: "dx.Session | None" = None


def python_repl(code: str) -> str:
    """Run Python code in a persistent sandboxed session and return its output."""
    global _session
    if _session is None:
        _session = _client.session(keep=True)
    r = _session.run(code)
    out = r.stdout + (f"\n[stderr]\n{r.stderr}" if r.stderr else "")
    if r.error:
        out += f"\n[{r.error.type} at line {r.error.line}] {r.error.message}"
    if r.artifacts:
        out += "\n[files] " + ", ".join(r.artifacts)
    return out or "(no output)"


if __name__ == "__main__":
    print(python_repl("import math\nprint(math.pi)"))
