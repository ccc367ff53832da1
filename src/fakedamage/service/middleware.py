"""The outermost layer of every request: request id, API key, body limit, metrics, access log.

Written as plain ASGI (no ``BaseHTTPMiddleware``) so it can refuse a body by its
``Content-Length`` before reading it, count bytes of chunked bodies as they arrive,
and still answer with the JSON error form if anything below fails.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any, Awaitable, Callable, MutableMapping

from starlette.datastructures import Headers

from .errors import ServiceError, error_body
from .logs import REQUEST_ID, new_request_id
from .prometheus import ServiceMetrics

__all__ = ["RequestMiddleware", "render_error", "route_label", "ROUTES"]

logger = logging.getLogger("fakedamage.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest refused body still read (and dropped) after the 413, so that the client sees the answer.
_DRAIN_CAP = 64 << 20

#: Paths served, used as the ``route`` metric label (anything else is ``other``).
ROUTES = frozenset({"/", "/healthz", "/readyz", "/metrics", "/v1/model", "/v1/predict", "/v1/predict/batch",
                    "/v1/assess"})


def route_label(path: str) -> str:
    """Bounded-cardinality label of a request path."""
    if path in ROUTES:
        return path
    return "/static" if path.startswith("/static/") else "other"


def _printable(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters with control characters replaced, safe for one log line."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


def render_error(err: ServiceError, request_id: str, metrics: ServiceMetrics | None) -> tuple[int, dict[str, str], bytes]:
    """Count an error and render it: ``(status, headers, JSON body)``."""
    if metrics is not None:
        metrics.observe_error(err.kind)
    body = json.dumps(error_body(err.kind, err.message, request_id)).encode()
    headers = {"content-type": "application/json", **{k.lower(): v for k, v in err.headers.items()}}
    return err.status, headers, body


class RequestMiddleware:
    """ASGI middleware wrapping the whole app.

    Args:
        app: The wrapped application.
        metrics: Request counters and latency histogram.
        api_key: When set, ``/v1/*`` needs ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``).
        body_limit: Path -> largest accepted request body in bytes.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, api_key: str | None,
                 body_limit: Callable[[str], int]) -> None:
        self.app = app
        self.metrics = metrics
        self.api_key = api_key.encode() if api_key else None
        self.body_limit = body_limit

    def _check_auth(self, path: str, headers: Headers) -> None:
        if self.api_key is None or not path.startswith("/v1/"):
            return
        given = headers.get("x-api-key")
        if given is None:
            auth = headers.get("authorization", "")
            given = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if given is None or not hmac.compare_digest(given.encode(), self.api_key):
            why = "missing" if given is None else "wrong"
            raise ServiceError(401, "unauthorized", f"{why} API key; send it in the X-API-Key header",
                               headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = new_request_id(headers.get("x-request-id"))
        token = REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        method, path = scope["method"], scope["path"]
        limit = self.body_limit(path)
        started = time.perf_counter()
        response = {"status": 500, "started": False}
        received = 0
        extra = [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"], response["started"] = int(message["status"]), True
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ServiceError(413, "payload_too_large", f"request body is over the {limit:,} byte limit")
            return message

        async def send_error(err: ServiceError) -> None:
            status, hdrs, body = render_error(err, request_id, self.metrics)
            hdrs["content-length"] = str(len(body))
            await send_wrapper({"type": "http.response.start", "status": status,
                                "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()]})
            await send_wrapper({"type": "http.response.body", "body": body})

        try:
            self._check_auth(path, headers)
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                # Answer before reading the body. Up to _DRAIN_CAP the server reads and drops the rest, so a client
                # still sending gets the 413 instead of a reset; bigger bodies get the answer and a closed connection.
                close = {"Connection": "close"} if int(declared) > max(_DRAIN_CAP, 2 * limit) else {}
                raise ServiceError(413, "payload_too_large",
                                   f"request body of {int(declared):,} bytes is over the {limit:,} byte limit",
                                   headers=close)
            await self.app(scope, receive_wrapper, send_wrapper)
        except ServiceError as err:
            if not response["started"]:
                await send_error(err)
        except Exception:  # noqa: BLE001 - answer 500 with the request id, keep serving
            logger.exception("unhandled error in %s %s", method, _printable(path))
            if not response["started"]:
                await send_error(ServiceError(500, "internal_error", f"internal error; quote request id {request_id}"))
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe_request(method, route_label(path), response["status"], seconds)
            logger.info("%s %s %d %.1fms body=%dB", method, _printable(path), response["status"], seconds * 1e3, received)
            REQUEST_ID.reset(token)
