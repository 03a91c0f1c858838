"""Every error the service returns is ``{"error": "<one line>"}``.

cinflow's own errors map to statuses (bad input 422, a stale version 409,
...); FastAPI's request validation (``{"detail": [...]}`` by default) and
Starlette's HTTP errors are rewritten into the same one-line shape, naming
the field at fault.  Anything unexpected is caught by
:class:`cinflow.service.middleware.Guard` (a 500 that says nothing of the
request).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..convert import one_line
from ..errors import ConflictError, InputError, PluginError, StoreError, UnknownPolicyError, quote

log = logging.getLogger("cinflow.service")


class ApiError(Exception):
    """An error with its HTTP status and one-line message."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    # One line, whole: cinflow's own messages (a list of known events) run past 500 characters.
    return JSONResponse({"error": one_line(message, 2000)}, status_code=status, headers=headers)


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validation_line(errors: list[dict]) -> str:
    """The first of pydantic's errors as one line: ``field: what is wrong``."""
    if not errors:
        return "the request is not valid"
    e = errors[0]
    loc = list(e.get("loc", ()))
    kind = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else None
    kind_name = {"body": "the body", "query": "the query", "path": "the path"}.get(kind, kind or "the request")
    name = _path(loc) or kind_name
    t, value, ctx = e.get("type", ""), e.get("input"), e.get("ctx") or {}
    if t == "json_invalid":
        where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return f"the body is not valid JSON ({ctx.get('error', 'decode error')}{where})"
    if t == "missing":
        return "the body is missing: send a JSON object" if not loc else f"{name}: required field missing"
    if t == "extra_forbidden":
        parent = _path(loc[:-1]) or kind_name
        return f"{parent}: unknown key {quote(loc[-1])}"
    if isinstance(value, (bytes, bytearray)) or (not loc and t in ("model_attributes_type", "model_type", "dict_type")
                                                 and isinstance(value, (str, bytes))):
        return "the body must be a JSON object (Content-Type: application/json)"
    if t in ("int_type", "int_parsing", "int_from_float"):
        return f"{name}: expected a whole number, got {quote(value)}"
    if t in ("string_type",):
        return f"{name}: expected text, got {quote(value)}"
    if t in ("bool_type", "bool_parsing"):
        return f"{name}: expected true or false, got {quote(value)}"
    if t in ("dict_type", "model_type", "model_attributes_type"):
        return f"{name}: expected a JSON object, got {quote(value)}"
    if t == "list_type":
        return f"{name}: expected a list, got {quote(value)}"
    if t == "literal_error":
        if kind == "query" and loc and isinstance(loc[-1], int):  # a repeated parameter: name it, not its index
            name = _path(loc[:-1])
        return f"{name}: {quote(value)} is not one of: {str(ctx.get('expected', '')).replace(chr(39), '')}"
    if t in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), "")
        word = {"greater_than_equal": "at least", "greater_than": "more than",
                "less_than_equal": "at most", "less_than": "less than"}[t]
        return f"{name}: must be {word} {bound}, got {quote(value)}"
    if t == "value_error" and "error" in ctx:
        return f"{name}: {ctx['error']}"
    return f"{name}: {e.get('msg', 'not valid')}"


_HTTP_WORDS = {401: "not authenticated", 403: "forbidden", 404: "not found", 405: "method not allowed",
               413: "the request body is too large"}


def install(app: FastAPI) -> None:
    """Install the handlers that make every error one line of JSON."""
    store_path = lambda request: getattr(request.app.state.store, "path", None)  # noqa: E731

    def hide_path(request: Request, text: str) -> str:
        path = store_path(request)
        return text.replace(path, "the database") if path else text

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(422, validation_line(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail else ""
        default = _HTTP_WORDS.get(exc.status_code, "")
        text = default if not detail or detail in ("Not Found", "Method Not Allowed") else detail
        return error_response(exc.status_code, text or f"HTTP {exc.status_code}", getattr(exc, "headers", None))

    @app.exception_handler(UnknownPolicyError)
    async def _unknown_policy(request: Request, exc: UnknownPolicyError):
        return error_response(404, str(exc))

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError):
        return error_response(409, hide_path(request, str(exc)))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        return error_response(422, hide_path(request, str(exc)))

    @app.exception_handler(PluginError)
    async def _plugin(request: Request, exc: PluginError):
        log.error("policy plugin error on %s %s", request.method, _route(request))
        return error_response(500, f"a policy plugin failed: {exc}")

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError):
        # Missing and duplicate cases are checked before the store is asked;
        # what is left is the database itself (busy, full, damaged).
        log.error("database error on %s %s", request.method, _route(request))
        return error_response(503, hide_path(request, str(exc)))


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "(unmatched path)")
