"""What the server returns, as dataclasses (the raw JSON stays in ``raw``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class ExecError:
    type: str
    message: str
    line: Optional[int]
    traceback: str


@dataclass
class Execution:
    id: str
    session_id: str
    status: str
    stdout: str
    stderr: str
    error: Optional[ExecError]
    artifacts: List[str]
    duration_ms: int
    trace_id: Optional[str]
    raw: Dict[str, Any] = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_json(cls, v: Dict[str, Any]) -> "Execution":
        e = v.get("error")
        return cls(
            id=v.get("id", ""),
            session_id=v.get("session_id", ""),
            status=v.get("status", ""),
            stdout=v.get("stdout", ""),
            stderr=v.get("stderr", ""),
            error=ExecError(e.get("type", ""), e.get("message", ""), e.get("line"), e.get("traceback", ""))
            if e
            else None,
            artifacts=list(v.get("artifacts", [])),
            duration_ms=int(v.get("duration_ms", 0)),
            trace_id=v.get("trace_id"),
            raw=v,
        )


@dataclass
class Event:
    """One streamed event: ``type`` is stdout, stderr, artifact or result."""

    seq: int
    type: str
    data: Dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.data.get("data", ""))

    @property
    def result(self) -> Optional[Execution]:
        return Execution.from_json(self.data) if self.type == "result" else None
