"""Frozen records: the child, a case, its history and its deadlines.

A :class:`Case` never changes; applying an event returns a new one
(``attrs.evolve``).  That is what makes "a refused event leaves the case
unchanged" true by construction.
"""

from __future__ import annotations

from datetime import date

from attrs import field, frozen

from .vocabulary import ClosureReason, DisabilityCode, Ethnicity, NeedCode, Role, Sex, UpnUnknown


@frozen
class Citation:
    """Where a rule comes from: a document (a seed file name, or a national
    document's title) and the section heading within it."""

    document: str
    section: str

    def __str__(self) -> str:
        return f"{self.document} {self.section}"


@frozen
class Reason:
    """Why an event was refused: the rule, a message a practitioner
    understands, and the source it comes from."""

    rule: str
    message: str
    source: str


@frozen
class Child:
    """What the engine (and the CIN census) needs to know about the child.

    Personal details beyond these are deliberately not held."""

    birth_date: date
    disabled: bool = False
    short_break_nights: int = field(default=0)
    short_break_settings: int = field(default=0)
    sex: Sex | None = None
    ethnicity: Ethnicity | None = None
    upn: str | None = None
    upn_unknown_reason: UpnUnknown | None = None
    disability_codes: tuple[DisabilityCode, ...] = ()

    @short_break_nights.validator
    @short_break_settings.validator
    def _not_negative(self, attribute, value):
        if value < 0:
            raise ValueError(f"{attribute.name} must not be negative")


@frozen
class Decision:
    """A recorded manager decision (``manager_decision`` event)."""

    kind: str
    date: date
    role: Role | None = None


@frozen
class CaseFacts:
    """Facts the lifecycle establishes and rules consult."""

    referral_date: date | None = None
    referral_source: str | None = None
    primary_need: NeedCode | None = None
    plan_required_on: date | None = None
    plan_origin: str | None = None
    plan_started: date | None = None
    closed_on: date | None = None
    closure_reason: ClosureReason | None = None
    decisions: tuple[Decision, ...] = ()
    review_chair: Role | None = None
    supervision_order_ends: date | None = None
    last_meeting: date | None = None

    def decided_since(self, kind: str, since: date | None, roles=None) -> bool:
        """Whether a ``kind`` decision (by one of ``roles``, if given) was
        recorded on or after ``since``."""
        return any(
            d.kind == kind and (since is None or d.date >= since) and (roles is None or d.role in roles)
            for d in self.decisions
        )


@frozen
class HistoryItem:
    """One event as it was applied (or refused), in order."""

    date: date
    event: str
    accepted: bool
    from_state: str
    to_state: str
    reasons: tuple[Reason, ...] = ()
    automatic: bool = False
    attributes: dict = field(factory=dict, eq=True, hash=False)


@frozen
class Deadline:
    """A dated obligation.  Repeating obligations are one Deadline per
    occurrence; ``met_on`` or ``cancelled_on`` closes it."""

    name: str
    due: date
    rule: str
    source: str
    opened_on: date
    met_on: date | None = None
    cancelled_on: date | None = None

    def status(self, as_of: date | None = None) -> str:
        """``met``, ``late``, ``overdue``, ``open`` or ``cancelled`` as of a date
        (None: as things stand, whatever the date)."""
        if self.met_on is not None and (as_of is None or self.met_on <= as_of):
            return "met" if self.met_on <= self.due else "late"
        if self.cancelled_on is not None and (as_of is None or self.cancelled_on <= as_of):
            return "cancelled"
        if as_of is not None and as_of > self.due:
            return "overdue"
        return "open"

    @property
    def is_open(self) -> bool:
        return self.met_on is None and self.cancelled_on is None


@frozen
class Case:
    """A case under one authority's policy."""

    id: str
    authority: str
    child: Child
    state: str = "new"
    version: int = 0
    facts: CaseFacts = CaseFacts()
    history: tuple[HistoryItem, ...] = ()
    deadlines: tuple[Deadline, ...] = ()

    @property
    def last(self) -> HistoryItem | None:
        return self.history[-1] if self.history else None

    @property
    def last_date(self) -> date | None:
        return self.history[-1].date if self.history else None

    def due(self, as_of: date) -> list[Deadline]:
        """Deadlines still to be met as of ``as_of`` (open or overdue), soonest first."""
        return sorted(
            (d for d in self.deadlines if d.opened_on <= as_of and d.status(as_of) in ("open", "overdue")),
            key=lambda d: (d.due, d.name),
        )
