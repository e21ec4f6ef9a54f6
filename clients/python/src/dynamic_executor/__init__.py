"""dynamic-executor's Python client: sandboxed Python sessions over HTTP (REST + SSE)."""

from .client import AsyncClient, AsyncSession, Client, Session
from .errors import (
    AnalysisLimit,
    BadRequest,
    ConnectionLost,
    ExecutorError,
    IdempotencyKeyReused,
    NotFound,
    PathForbidden,
    QuotaExceeded,
    SessionBusy,
    SessionNotFound,
    Unavailable,
)
from .models import Event, ExecError, Execution

__all__ = [
    "AnalysisLimit",
    "AsyncClient",
    "AsyncSession",
    "BadRequest",
    "Client",
    "ConnectionLost",
    "Event",
    "ExecError",
    "Execution",
    "ExecutorError",
    "IdempotencyKeyReused",
    "NotFound",
    "PathForbidden",
    "QuotaExceeded",
    "Session",
    "SessionBusy",
    "SessionNotFound",
    "Unavailable",
]
