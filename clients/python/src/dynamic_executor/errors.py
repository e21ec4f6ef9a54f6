"""Typed exceptions from the server's ``{"error": {"code", "message"}}`` bodies."""

from __future__ import annotations


class ExecutorError(Exception):
    """An error the server answered (``code`` is its stable error code) or a transport failure."""

    def __init__(self, message: str, code: str = "error", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class BadRequest(ExecutorError):
    """400: invalid JSON, path or parameters."""


class NotFound(ExecutorError):
    """404: no such session, execution, file or object."""


class SessionNotFound(NotFound):
    pass


class PathForbidden(ExecutorError):
    """403: a path through a symlink, or a file that is not the session's own."""


class SessionBusy(ExecutorError):
    """409: the session runs another execution."""


class IdempotencyKeyReused(ExecutorError):
    """422: the key was sent before with a different request."""


class QuotaExceeded(ExecutorError):
    """413: the body or the workspace's disk quota is too large."""


class Unavailable(ExecutorError):
    """503: too many sessions, the instance is draining, or the sandbox is not ready."""


class ConnectionLost(ExecutorError):
    """The connection failed and the retries were used up."""


class AnalysisLimit(ExecutorError):
    """An analysis (profile, verify, charts) ran out of the session's memory (``oom``) or time
    (``timeout``); the session is unharmed."""


_BY_CODE = {
    "session_not_found": SessionNotFound,
    "execution_not_found": NotFound,
    "file_not_found": NotFound,
    "object_not_found": NotFound,
    "not_found": NotFound,
    "invalid_json": BadRequest,
    "bad_request": BadRequest,
    "invalid_path": BadRequest,
    "path_forbidden": PathForbidden,
    "session_busy": SessionBusy,
    "session_exists": SessionBusy,
    "idempotency_key_reused": IdempotencyKeyReused,
    "payload_too_large": QuotaExceeded,
    "disk_quota_exceeded": QuotaExceeded,
    "too_many_sessions": Unavailable,
    "unavailable": Unavailable,
    "draining": Unavailable,
    "font_unavailable": Unavailable,
    "oom": AnalysisLimit,
    "timeout": AnalysisLimit,
}


def from_response(status: int, body: object) -> ExecutorError:
    """The exception for an error response (``body`` parsed JSON, or text)."""
    code, message = "error", str(body)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code", code))
        message = str(body["error"].get("message", message))
    cls = _BY_CODE.get(code, ExecutorError)
    return cls(message, code=code, status=status)
