"""Who is calling: access tokens (``cinflow tokens create``).

Every ``/api`` request carries ``Authorization: Bearer TOKEN``.  The token
is checked before anything else about the request (so a caller without one
learns nothing, not even that its JSON was malformed): no token or an
unknown or revoked one is 401, a read-only token on a write is 403.  A token
sees and writes only its own authority's cases (403 otherwise); its name is
recorded on every event it stores (``recorded_by``).

The worklist pages (``/``, ``/cases/{case}``) take the same header, or the
token in an HttpOnly, SameSite=Strict cookie set by the small login form at
``/login``, so a practitioner's browser never needs a script or a token in
an address.  The cookie is honoured only by those read-only pages, never by
the API, so no other site can make a browser write with it.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import StoreError, quote
from ..store import Token
from .errors import ApiError, error_response

COOKIE = "cinflow_token"
READS = ("GET", "HEAD", "OPTIONS")

bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="A token made by `cinflow tokens create NAME --db DATABASE --authority ID`.")

NO_TOKEN = "missing Authorization: Bearer TOKEN (make one with 'cinflow tokens create')"
BAD_TOKEN = "the token is not valid (unknown or revoked)"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def secret_from_header(value: str | None) -> str | None:
    """The token in ``Authorization: Bearer TOKEN``, if that is what it holds."""
    if not value:
        return None
    scheme, _, secret = value.partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


async def lookup(store, secret: str | None) -> Token | None:
    """The live token for ``secret`` (the database is asked off the event loop)."""
    if not secret or len(secret) > 200:
        return None
    return await anyio.to_thread.run_sync(store.token_for, secret)


class TokenGate:
    """ASGI middleware for ``/api``: 401 without a valid token, 403 for a
    read-only token on anything but a read; the token goes into the
    request's state for the routes."""

    def __init__(self, app, store):
        self.app, self.store = app, store

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/api" or path.startswith("/api/")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        secret = secret_from_header(headers.get("authorization"))
        try:
            token = await lookup(self.store, secret)
        except StoreError as exc:  # the database is down: worth retrying, as any route's 503
            text = str(exc).replace(self.store.path, "the database")
            await error_response(503, text)(scope, receive, send)
            return
        if token is None:
            response = error_response(401, BAD_TOKEN if secret else NO_TOKEN, CHALLENGE)
        elif token.read_only and scope.get("method") not in READS:
            response = error_response(403, f"token {quote(token.name)} is read-only: it cannot write")
        else:
            scope.setdefault("state", {})["token"] = token
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


def caller(request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Token:
    """The token :class:`TokenGate` checked (the ``bearer`` dependency puts
    the scheme in the OpenAPI document)."""
    token = getattr(request.state, "token", None)
    if token is None:  # a route outside the gate: never serve it unauthenticated
        raise ApiError(401, NO_TOKEN, CHALLENGE)
    return token


def writer(token: Token = Depends(caller)) -> Token:
    if token.read_only:
        raise ApiError(403, f"token {quote(token.name)} is read-only: it cannot write")
    return token


def owned_case(store, token: Token, case_id: str) -> str:
    """``case_id``'s authority, if the token may see it: 404 if there is no
    such case, 403 if it is another authority's (which authority is not said)."""
    authority = store.authority_of(case_id)
    if authority is None:
        raise ApiError(404, f"no case {quote(case_id)}")
    if authority != token.authority:
        raise ApiError(403, f"case {quote(case_id)} is not one of {token.authority}'s cases: "
                            f"token {quote(token.name)} cannot see it")
    return authority


async def page_caller(request: Request) -> Token | None:
    """The worklist's caller: the bearer header, else the login cookie;
    None when neither holds a valid token."""
    secret = secret_from_header(request.headers.get("authorization")) or request.cookies.get(COOKIE)
    return await lookup(request.app.state.store, secret)
