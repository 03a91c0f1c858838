"""The service's outermost layer: an access log without personal data,
security headers, and a 500 that says nothing of the request.

Every record a child's case holds is personal data, and so is a case id
joined to a date.  The access log therefore names each request by its
*route* (``POST /api/cases/{case}/events 200 3.1 ms``), never by its path,
query string or body; the path's parameters (the case id) are logged only at
debug level, and nothing of a child ever is.  uvicorn's own access log is
switched off (``cinflow serve`` configures it so): it logs the raw path and
query string.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException

log = logging.getLogger("cinflow.service.access")
errors = logging.getLogger("cinflow.service")

# Sent with every response: nothing is cached (every page and body may hold
# personal data), nothing is sniffed, no referrer leaves for another site (same-origin: the
# browser still names this origin on its own form posts, which the sign-in form checks).
HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
TOO_LARGE = "the request body is too large"
# HTML pages: their own stylesheet and forms, no script at all.
PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")


def route_of(scope) -> str:
    """The route template a request matched (``/api/cases/{case}``), or a
    placeholder: an unmatched path is never logged as it was sent."""
    route = scope.get("route")
    return getattr(route, "path", None) or "(unmatched path)"


class Guard:
    """ASGI middleware: the access log, the headers, and the last resort
    for an unexpected exception (logged by type and route; the traceback
    only at debug level)."""

    def __init__(self, app, max_body: int = 1_000_000):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: list[int] = []
        received = 0

        async def limited_receive():
            # A body over max_body (however it is sent) is a 413 before it is parsed.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(413, TOO_LARGE)
            return message

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if headers.get("content-type", "").startswith("text/html"):
                    headers["content-security-policy"] = PAGE_POLICY
            await send(message)

        length = dict(scope.get("headers", ())).get(b"content-length")
        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                big = length.isdigit()
                await self._error(send_with_headers, 413 if big else 400, TOO_LARGE if big else "a bad Content-Length")
                return
            await self.app(scope, limited_receive, send_with_headers)
        except Exception as exc:  # noqa: BLE001 - the last resort: one line, nothing of the request
            errors.error("internal error on %s %s: %s", scope.get("method"), route_of(scope), type(exc).__name__)
            errors.debug("traceback", exc_info=exc)
            if not status:
                await self._error(send_with_headers, 500,
                                  "internal error (the server's log names the route and the error's type)")
        finally:
            took = (time.perf_counter() - start) * 1000
            log.info("%s %s %s %.1f ms", scope.get("method"), route_of(scope), status[0] if status else "-", took)
            params = scope.get("path_params")
            if params and log.isEnabledFor(logging.DEBUG):
                log.debug("  %s", " ".join(f"{k}={v!r}" for k, v in sorted(params.items())))

    @staticmethod
    async def _error(send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
