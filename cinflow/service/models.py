"""Pydantic models of the service's JSON: requests, and responses that are
exactly cinflow's own JSON contracts.

The response models describe what :mod:`cinflow.report` and
:mod:`cinflow.catalogue` already produce (``cinflow run/show/due/tick
--format json``, ``cinflow policies show --format json``); the service
returns those dicts as they are and these models generate the OpenAPI
document.  ``extra="forbid"`` keeps model and contract in step: the tests
validate the CLI's real output against them, so a field added to the
contract and not here fails a test.

Requests carry the child and the event as plain JSON objects: cinflow's own
converter (:mod:`cinflow.convert`) structures them, so an HTTP client gets
the same one-line messages as the command line.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ..convert import converter, has_surrogate
from ..events import SUBMITTABLE_EVENTS
from ..models import STATUSES, Child


def _cinflow_date(value: Any) -> date:
    """A date as cinflow reads one (ISO text, within the supported range);
    the message is the CLI's."""
    return converter.structure(value, date)


Day = Annotated[date, BeforeValidator(_cinflow_date)]
"""An ISO date (YYYY-MM-DD) checked as the command line checks one."""

CASE_ID_MAX = 200


def _case_id(value: str) -> str:
    if not value or len(value) > CASE_ID_MAX or "/" in value or has_surrogate(value) \
            or any(not ch.isprintable() for ch in value) or value != value.strip():
        raise ValueError(f"a case id is 1 to {CASE_ID_MAX} printable characters, with no '/' and no "
                         "space at either end (it is part of the case's address, /api/cases/{case})")
    return value


CaseId = Annotated[str, AfterValidator(_case_id)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- requests ------------------------------------------------------------------------

_CHILD_FIELDS = ", ".join(a.name for a in Child.__attrs_attrs__)


class NewCase(_Request):
    """A new case: its authority (the token's), id and child."""

    authority: str = Field(description="The authority id; it must be the token's (`GET /api/policies` lists ids).")
    case: CaseId = Field(description="The new case's id, unique in the database.")
    child: dict[str, Any] = Field(
        description=f"The child as in a scenario file: {_CHILD_FIELDS} (birth_date required, ISO dates).",
        examples=[{"birth_date": "2014-06-12", "disabled": False}])


class NewEvent(_Request):
    """One event to apply to a stored case, at the version the client last saw."""

    expected_version: int = Field(ge=0, description="The case's version the client last saw (`GET .../version`); "
                                                    "409 if someone has written since.")
    event: dict[str, Any] = Field(
        description="`{\"event\": NAME, \"date\": \"YYYY-MM-DD\", ...attributes}` as in a scenario file. Events: "
                    + ", ".join(SUBMITTABLE_EVENTS) + ".",
        examples=[{"event": "cin_meeting", "date": "2026-05-13", "kind": "review", "chair": "team_manager",
                   "outcome": "continue"}])


class TickRequest(_Request):
    """Let time pass for the token's authority's cases up to ``as_of``."""

    as_of: Day


# -- the case contract (cinflow.report.case_contract) ----------------------------------------

class Remedy(_Contract):
    kind: str
    text: str
    roles: list[str] | None = None
    decision: str | None = None
    rule: str | None = None
    on: date | None = None
    each: bool | None = None
    attribute: str | None = None
    values: list[str] | None = None


class Reason(_Contract):
    rule: str = Field(description="The rule that refused the event.")
    message: str
    source: str = Field(description="The citation: the document and its section.")
    remedies: list[Remedy]


class Advice(_Contract):
    rule: str
    message: str
    source: str


class ExceptionUse(_Contract):
    rule: str
    role: str
    reason: str
    source: str
    recorded_on: date


class HistoryItem(_Contract):
    date: date
    event: str
    accepted: bool
    from_: str = Field(alias="from")
    to: str
    reasons: list[Reason]
    advice: list[Advice]
    exceptions: list[ExceptionUse]
    automatic: Literal[True] | None = Field(default=None, description="Present (true) on engine-made items only.")
    recorded_by: str | None = Field(description="Who stored it (a token's name, cli:LOGIN); null if not stored.")


class DeadlineItem(_Contract):
    name: str
    due: date
    status: Literal[STATUSES]  # type: ignore[valid-type]
    opened_on: date
    met_on: date | None
    ended_on: date | None
    rule: str
    source: str


class CaseContract(_Contract):
    """A case as ``cinflow run --format json`` prints it."""

    authority: str
    case: str
    state: str
    version: int
    as_of: date | None
    next_wakeup: date | None
    history: list[HistoryItem]
    deadlines: list[DeadlineItem]


class Version(_Contract):
    version: int


# -- due, tick, policies ----------------------------------------------------------------------

class DueRow(_Contract):
    """One row of ``cinflow due --format json``."""

    case: str
    authority: str
    name: str
    due: date
    status: Literal["open", "overdue"]
    rule: str
    source: str


class TickItem(_Contract):
    case: str
    state: str
    version: int
    events: list[str]


class TickResult(_Contract):
    """What ``cinflow tick --format json`` prints."""

    as_of: date
    changed: list[TickItem]


class PolicySummary(_Contract):
    """One row of ``cinflow policies --format json``."""

    id: str
    title: str
    description: str


class CatalogueCitation(_Contract):
    document: str
    section: str
    title: str | None
    author: str | None
    date: date | None
    text: str


class CatalogueRule(_Contract):
    id: str
    text: str
    parameters: list[str]
    citation: CatalogueCitation
    enforced_as: list[str]
    not_enforced: str | None
    level: Literal["must", "should", "advice"]
    words: str | None
    raised: str | None
    exception_roles: list[str] | None


class CataloguePolicy(_Contract):
    id: str
    title: str
    description: str
    document: str | None
    document_title: str | None
    document_date: date | None
    last_reviewed: date | None
    layers: list[str]


class Catalogue(_Contract):
    """``cinflow policies show ID --format json``."""

    policy: CataloguePolicy
    rules: list[CatalogueRule]


class ErrorBody(_Contract):
    """Every error: one line saying what is wrong."""

    error: str
