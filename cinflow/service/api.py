"""The JSON API under ``/api``: cases, events, due work, time passing and
the policies' rule catalogues.

Bodies are cinflow's own JSON contracts, built by the same functions as the
command line's ``--format json`` (:mod:`cinflow.report`,
:func:`cinflow.catalogue.catalogue`), so ``GET /api/cases/K-001`` is what
``cinflow show K-001 --format json`` prints.  Routes are plain functions
(FastAPI runs them in its thread pool; one :class:`~cinflow.store.Store` is
shared, a connection per thread).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from ..convert import structure, structure_event
from ..errors import ConflictError, StoreError, quote
from ..models import Child
from ..report import case_contract, due_item, tick_item
from ..store import Token
from .auth import caller, owned_case, writer
from .errors import ApiError
from .models import (Catalogue, CaseContract, CaseId, Day, DueRow, ErrorBody, NewCase, NewEvent, PolicySummary,
                     TickRequest, TickResult, Version)


def _errors(*codes: int) -> dict:
    words = {401: "No valid token", 403: "Not this token's to see or write", 404: "No such case",
             409: "Conflict", 422: "Malformed input (one line naming the field)", 503: "Database unavailable"}
    return {c: {"model": ErrorBody, "description": words[c]} for c in codes}


router = APIRouter(prefix="/api", responses=_errors(401, 422, 503))


def _store(request: Request):
    return request.app.state.store


def _policy(request: Request, authority: str):
    return request.app.state.registry[authority]


def _not_future(request: Request, what: str, day: date) -> None:
    latest = request.app.state.latest()
    if day > latest:
        raise ApiError(422, f"{what}: {day.isoformat()} is after today ({(latest - timedelta(days=1)).isoformat()}): "
                            "a service records what has happened (cinflow serve --allow-future-dates for a test "
                            "system); nothing was stored")


def _contract(request: Request, case, as_of: date | None, status: int = 200) -> JSONResponse:
    policy = _policy(request, case.authority)
    return JSONResponse(case_contract(case, as_of, policy.next_wakeup(case)), status_code=status)


@router.post("/cases", status_code=201, response_model=CaseContract, responses=_errors(403, 409),
             summary="Open a case")
def create_case(body: NewCase, request: Request, token: Token = Depends(writer)):
    """A new case under the token's authority, with no events yet (version 0)."""
    if body.authority != token.authority:
        raise ApiError(403, f"token {quote(token.name)} is for {token.authority}'s cases, not {quote(body.authority)}'s")
    child = structure(body.child, Child, "child")
    store = _store(request)
    taken = ApiError(409, f"case {quote(body.case)} already exists; append to it or use another case id")
    if store.authority_of(body.case) is not None:
        raise taken
    case = _policy(request, body.authority).new_case(body.case, child)
    try:
        store.add(case, recorded_by=token.name)
    except StoreError as exc:
        if "already in" in str(exc):  # another writer added it since the check
            raise taken from None
        raise
    return _contract(request, store.load(case.id), None, 201)


@router.post("/cases/{case}/events", response_model=CaseContract, responses=_errors(403, 404, 409),
             summary="Apply an event")
def post_event(case: CaseId, body: NewEvent, request: Request, token: Token = Depends(writer)):
    """Apply one event at ``expected_version``.  The new history item is
    last.  A refused event is a 200 too (``accepted: false`` with its
    reasons) and stores nothing: the version stays as it was."""
    store = _store(request)
    owned_case(store, token, case)
    event = structure_event(body.event, "event")
    _not_future(request, "event.date", event.date)
    try:
        after = store.append(case, event, body.expected_version, recorded_by=token.name, keep_refused=False)
    except ConflictError as exc:
        raise ApiError(409, str(exc)) from None
    return _contract(request, after, None)


@router.get("/cases/{case}", response_model=CaseContract, responses=_errors(403, 404), summary="A case")
def get_case(case: CaseId, request: Request, as_of: Day | None = None, token: Token = Depends(caller)):
    """The stored case; with ``as_of``, time let pass to that date first (not
    stored: see ``POST /api/tick``) and deadline statuses as of it."""
    store = _store(request)
    owned_case(store, token, case)
    loaded = store.load(case)
    if as_of is not None and loaded.last_date is not None and as_of < loaded.last_date:
        raise ApiError(422, f"as_of: {as_of.isoformat()} is before case {case}'s last event "
                            f"({loaded.last_date.isoformat()})")
    if as_of is not None:
        loaded = _policy(request, loaded.authority).advance(loaded, as_of)
    return _contract(request, loaded, as_of)


@router.get("/cases/{case}/version", response_model=Version, responses=_errors(403, 404), summary="A case's version")
def get_version(case: CaseId, request: Request, token: Token = Depends(caller)):
    store = _store(request)
    owned_case(store, token, case)
    return JSONResponse({"version": store.version(case)})


def due_rows(store, token: Token, as_of: date, statuses=(), deadline: str | None = None) -> list[dict]:
    """The token's authority's open and overdue deadlines, soonest first (the
    ``cinflow due --format json`` rows), narrowed to ``statuses`` and one
    deadline name if given."""
    rows = [due_item(cid, auth, d, as_of) for cid, auth, d in store.due(as_of, authority=token.authority)]
    return [r for r in rows if (not statuses or r["status"] in statuses) and (not deadline or r["name"] == deadline)]


@router.get("/due", response_model=list[DueRow], summary="Open and overdue deadlines")
def get_due(request: Request, as_of: Day | None = None,
            status: Annotated[list[Literal["open", "overdue"]], Query()] = [],  # noqa: B006 (FastAPI copies it)
            limit: Annotated[int | None, Query(ge=1)] = None, token: Token = Depends(caller)):
    """The token's authority's deadlines open or overdue on ``as_of`` (default
    today), soonest first; ``status`` (repeatable) narrows them, ``limit``
    keeps the soonest N."""
    rows = due_rows(_store(request), token, as_of or date.today(), status)
    return JSONResponse(rows[:limit] if limit else rows)


@router.post("/tick", response_model=TickResult, responses=_errors(403), summary="Let time pass")
def post_tick(body: TickRequest, request: Request, token: Token = Depends(writer)):
    """Move the token's authority's open cases to ``as_of``, storing each
    automatic transition (the 18th birthday closes a case).  Again for the
    same date changes nothing."""
    _not_future(request, "as_of", body.as_of)
    changed = _store(request).advance(body.as_of, authority=token.authority, recorded_by=token.name)
    return JSONResponse({"as_of": body.as_of.isoformat(), "changed": [tick_item(c, body.as_of) for c in changed]})


@router.get("/policies", response_model=list[PolicySummary], summary="The policies installed")
def get_policies(request: Request, token: Token = Depends(caller)):
    registry = request.app.state.registry
    return JSONResponse([{"id": pid, "title": registry.info(pid).title, "description": registry.info(pid).description}
                         for pid in registry.ids()])


@router.get("/policies/{policy}", response_model=Catalogue, responses=_errors(404), summary="A policy's rule catalogue")
def get_policy(policy: str, request: Request, token: Token = Depends(caller)):
    """Every rule, its parameters, citation and how it is enforced, as
    ``cinflow policies show ID --format json``."""
    from ..catalogue import catalogue

    cache = request.app.state.catalogues
    if policy not in cache:
        cache[policy] = catalogue(request.app.state.registry[policy])  # an unknown id: 404 (UnknownPolicyError)
    return JSONResponse(cache[policy])
