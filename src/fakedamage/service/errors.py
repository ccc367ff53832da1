"""Errors of the review service and their JSON form.

Every error answer has the body ``{"error": {"kind": ..., "message": ..., "request_id": ...}}``
and the ``X-Request-ID`` header. ``kind`` is a stable machine-readable name (also the
label of ``fakedamage_errors_total``); ``message`` is one human-readable line.
"""

from __future__ import annotations

from typing import Mapping

__all__ = ["ServiceError", "error_body", "STATUS_KINDS"]

#: Default kind for an HTTP status raised by the framework (unknown route, wrong method, ...).
STATUS_KINDS: dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "busy",
    500: "internal_error",
    503: "busy",
    504: "timeout",
}


class ServiceError(Exception):
    """An answer other than success, raised anywhere in a request and rendered as JSON.

    Args:
        status: HTTP status code (4xx or 5xx).
        kind: Stable error name, e.g. ``"payload_too_large"``.
        message: One line saying what is wrong and how to fix it.
        headers: Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.kind = kind
        self.message = " ".join(str(message).split())
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, str]:
        """``{"kind": ..., "message": ...}``."""
        return {"kind": self.kind, "message": self.message}

    def __repr__(self) -> str:
        return f"ServiceError({self.status}, {self.kind!r}, {self.message!r})"


def error_body(kind: str, message: str, request_id: str | None) -> dict[str, dict[str, str | None]]:
    """The JSON body of an error answer."""
    return {"error": {"kind": kind, "message": message, "request_id": request_id}}
