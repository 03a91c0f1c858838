"""The service: ``create_app(store_target)`` returns the FastAPI application
that ``cinflow serve`` runs under uvicorn.

FastAPI, because its OpenAPI document is generated from pydantic models of
the real JSON contract (:mod:`cinflow.service.models`), its tests run on
Starlette's TestClient without a server, and it is the most widely used
ASGI framework (so the most likely to be known by whoever maintains a
council's deployment).  Interactive docs pages are off: they load scripts
from a CDN; ``/openapi.json`` is the document.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import date, timedelta

from fastapi import FastAPI

from .. import __version__
from ..store import Store
from . import errors
from .api import router as api_router
from .auth import TokenGate
from .middleware import Guard
from .worklist import router as worklist_router

MAX_BODY = 1_000_000
"""Bytes in one request body (an event is a few hundred)."""

DESCRIPTION = """cinflow's engine and store over HTTP: open a case, apply events at the
version you last saw, list due and overdue work, let time pass, read the
policies' rule catalogues.  Every request carries `Authorization: Bearer
TOKEN` (`cinflow tokens create`); a token sees and writes only its own
authority's cases.  Bodies are cinflow's JSON contracts (`cinflow run
--format json`); every error is `{"error": "<one line>"}`.  `/` is the
team's worklist, for a browser."""


FUTURE_MARGIN = timedelta(days=1)
"""How far past the server's date an event or tick may be dated (the
server's clock may be in UTC while a council's day has begun)."""


def create_app(store_target, registry=None, *, store: Store | None = None, allow_future: bool = False,
               today=date.today) -> FastAPI:
    """The application over the database ``store_target`` (a SQLite path or
    a ``postgresql://`` URL), with the installed policies unless
    ``registry`` is given.  One :class:`~cinflow.store.Store` serves every
    request (a connection per thread); it is closed when the app shuts down.

    A service records what has happened: an event or a tick dated more than
    a day after ``today()`` is refused (422, nothing stored), since a wrong
    year would close cases or lock them behind a date no real event can
    follow.  ``allow_future=True`` (``serve --allow-future-dates``) lifts
    that, for a test system replaying whole lifecycles."""
    if registry is None:
        from ..plugins import Registry

        registry = Registry.load()
    if store is None:
        store = Store(store_target, registry)

    @asynccontextmanager
    async def lifespan(app):
        yield
        store.close()

    app = FastAPI(title="cinflow", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.store = store
    app.state.registry = registry
    app.state.catalogues = {}
    app.state.latest = (lambda: date.max) if allow_future else (lambda: today() + FUTURE_MARGIN)
    errors.install(app)
    app.include_router(api_router)
    app.include_router(worklist_router)
    app.add_middleware(TokenGate, store=store)
    app.add_middleware(Guard, max_body=MAX_BODY)  # outermost: it logs and guards everything, the gate's answers included
    return app
