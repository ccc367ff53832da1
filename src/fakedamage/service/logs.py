"""Request ids and log set-up of the review service.

Each request gets an id: the client's ``X-Request-ID`` when it is a short token of
safe characters, else a fresh random one. The id is kept in a context variable, so
every log record written while the request is handled (in the event loop or in an
inference worker) carries it as ``request_id``. Log lines never contain image bytes
or client file names; one access line per request gives method, path, status,
latency and body size.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid

__all__ = ["REQUEST_ID", "new_request_id", "RequestIdFilter", "configure_logging", "LOG_FORMAT"]

#: The id of the request being handled, ``"-"`` outside requests.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("fakedamage_request_id", default="-")

#: Format of the service's log lines.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id(client_value: str | None = None) -> str:
    """The client's request id if it is 1-64 safe characters (``A-Z a-z 0-9 . _ : -``), else a new uuid4 hex."""
    if client_value and _SAFE_ID.match(client_value):
        return client_value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` from :data:`REQUEST_ID` (kept if already set)."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API name
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: str = "info") -> None:
    """Send ``fakedamage`` and ``uvicorn`` logs to stderr as :data:`LOG_FORMAT` lines.

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error``.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    for name in ("fakedamage", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler] if name != "uvicorn.error" else []
        logger.setLevel(level.upper())
        logger.propagate = name == "uvicorn.error"
    logging.getLogger("uvicorn.access").disabled = True  # the service writes its own access lines
