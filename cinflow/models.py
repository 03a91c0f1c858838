"""Frozen records: the child, a case, its history and its deadlines.

A :class:`Case` never changes; applying an event returns a new one
(``attrs.evolve``).  That is what makes "a refused event leaves the case
unchanged" true by construction.
"""

from __future__ import annotations

import re
from datetime import date

from attrs import field, frozen

from .events import AUTOMATIC_EVENTS
from .vocabulary import ClosureReason, DisabilityCode, Ethnicity, NeedCode, Role, Sex, UpnUnknown

# Every record here is frozen and slotted, without the weak-reference slot:
# thousands are held per simulated chunk (6 history items and 5 deadlines a
# case), the slot is 8 bytes each, and nothing takes weak references to them.
record = frozen(weakref_slot=False)

_UPN = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")


@record
class Citation:
    """Where a rule comes from: a document (a seed file name, or a national
    document's title) and the section heading within it."""

    document: str
    section: str

    def __str__(self) -> str:
        return f"{self.document} {self.section}"


@record
class Remedy:
    """What would let a refused event through, as data a host (or the
    simulated practitioner) can act on.

    ``kind`` is one of:

    * ``needs_chair``: hold the meeting with one of ``roles`` in the chair;
    * ``needs_decision``: record ``manager_decision`` of kind ``decision``
      (by one of ``roles``, if any) first;
    * ``needs_exception``: record an exception to ``rule``
      (``manager_decision`` kind ``exception``) authorised by one of ``roles``;
    * ``not_before``: the event is possible from ``on`` onwards;
    * ``one_of``: the event's ``attribute`` takes one of ``values`` (the
      meeting outcomes a procedure recognises).
    """

    kind: str
    roles: tuple[str, ...] = ()
    decision: str | None = None
    rule: str | None = None
    on: date | None = None
    attribute: str | None = None
    values: tuple[str, ...] = ()
    # needs_decision: one decision by *each* of ``roles``, not by any one.
    each: bool = False

    def describe(self) -> str:
        from .vocabulary import roles_in_words

        who = f" by {roles_in_words(self.roles)}" if self.roles else ""
        if self.kind == "needs_chair":
            return f"hold it with {roles_in_words(self.roles)} in the chair"
        if self.kind == "needs_decision":
            if self.each:
                who = " by " + " and one by ".join(roles_in_words([r]) for r in self.roles)
            return f"record a manager_decision (kind {self.decision}){who} first"
        if self.kind == "needs_exception":
            return f"record an exception to {self.rule}{who} (manager_decision kind exception)"
        if self.kind == "not_before":
            return f"do it on or after {self.on.isoformat()}"
        if self.kind == "one_of":
            return f"use {self.attribute} {' or '.join(self.values)}"
        return self.kind


def needs_chair(roles) -> Remedy:
    return Remedy("needs_chair", tuple(roles))


def needs_decision(kind: str, roles=None, each: bool = False) -> Remedy:
    return Remedy("needs_decision", tuple(roles or ()), decision=kind, each=each)


def needs_exception(rule: str, roles) -> Remedy:
    return Remedy("needs_exception", tuple(roles), rule=rule)


def not_before(on: date) -> Remedy:
    return Remedy("not_before", on=on)


def one_of(attribute: str, values) -> Remedy:
    return Remedy("one_of", attribute=attribute, values=tuple(values))


@record
class Reason:
    """Why an event was refused: the rule, a message a practitioner
    understands, the source it comes from, and what would let it through
    (``remedies``: any one of them is enough, together with the other
    refusals' remedies)."""

    rule: str
    message: str
    source: str
    remedies: tuple[Remedy, ...] = ()

    def remedy_text(self) -> str:
        return ", or ".join(r.describe() for r in self.remedies)


@record
class Advice:
    """A record-keeping rule the event did not follow: it was accepted, and
    this says what the procedure asks for."""

    rule: str
    message: str
    source: str


@record
class ExceptionUse:
    """An authorised departure from a ``should`` rule that let an event
    through (comply or explain): who authorised it, why, and when."""

    rule: str
    role: str
    reason: str
    source: str
    recorded_on: date


@record
class Child:
    """What the engine (and the CIN census) needs to know about the child.

    Personal details beyond these are deliberately not held."""

    birth_date: date
    disabled: bool = False
    short_break_nights: int = field(default=0)
    short_break_settings: int = field(default=0)
    # The child's support is a short-breaks plan (a plan of its own kind, not
    # just some short-break nights alongside a CIN plan).
    short_breaks_plan: bool = False
    sex: Sex | None = None
    ethnicity: Ethnicity | None = None
    upn: str | None = field(default=None)
    upn_unknown_reason: UpnUnknown | None = None
    disability_codes: tuple[DisabilityCode, ...] = ()

    @upn.validator
    def _upn_shape(self, attribute, value):
        # The census's shape of a UPN: a letter, 11 digits (LA code, then
        # numbers), then a digit or letter (rules 1540, 1550).  The check
        # letter (1510) and the LA code list (1530) are the validator's.
        if value is not None and not _UPN.fullmatch(value):
            shown = value if len(value) <= 20 else value[:20] + "…"
            raise ValueError(f"upn {shown!r} is not a UPN (a letter, 11 digits, then a digit or letter)")

    @short_break_nights.validator
    @short_break_settings.validator
    def _not_negative(self, attribute, value):
        if value < 0:
            raise ValueError(f"{attribute.name} must not be negative")


@record
class Decision:
    """A recorded manager decision (``manager_decision`` event)."""

    kind: str
    date: date
    role: Role | None = None


@record
class PendingException:
    """An exception recorded and not yet used (each is used once)."""

    rule: str
    role: str
    reason: str
    date: date


@record
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
    exceptions: tuple[PendingException, ...] = ()

    def decided_since(self, kind: str, since: date | None, roles=None) -> bool:
        """Whether a ``kind`` decision (by one of ``roles``, if given) was
        recorded on or after ``since``."""
        return any(
            d.kind == kind and (since is None or d.date >= since) and (roles is None or d.role in roles)
            for d in self.decisions
        )


@record
class HistoryItem:
    """One event as it was applied (or refused), in order."""

    date: date
    event: str
    accepted: bool
    from_state: str
    to_state: str
    reasons: tuple[Reason, ...] = ()
    attributes: dict = field(factory=dict, eq=True, hash=False)
    advice: tuple[Advice, ...] = ()
    exceptions: tuple[ExceptionUse, ...] = ()
    # Who stored it (a service token's name, ``cli:<login>``); None until it
    # is stored, and never part of what the engine decided (not compared).
    recorded_by: str | None = field(default=None, eq=False)

    @property
    def automatic(self) -> bool:
        """Made by the engine as time passed (the 18th birthday), not submitted.

        Read from the event's name rather than stored: only the engine makes
        these events (:data:`cinflow.events.AUTOMATIC_EVENTS`; submitting one
        is refused), and a held case keeps six items, so a field fewer keeps
        each item in a smaller allocation."""
        return self.event in AUTOMATIC_EVENTS


STATUSES = ("met", "late", "open", "overdue", "missed", "cancelled")


def deadline_status(due: date, met_on: date | None, ended_on: date | None, as_of: date | None = None) -> str:
    """The one definition of an obligation's status as of ``as_of`` (None: as
    things stand, whatever the date):

    * ``met``: fulfilled on or before its due date; ``late``: after it;
    * ``open``: unfulfilled, still applies, due date not passed;
    * ``overdue``: unfulfilled, still applies, due date passed;
    * ``missed``: stopped applying *after* its due date without being met;
    * ``cancelled``: stopped applying on or before its due date.

    Nothing that happens later relabels an overdue obligation as cancelled:
    once its due date has passed it can only become late or missed."""
    if met_on is not None and (as_of is None or met_on <= as_of):
        return "met" if met_on <= due else "late"
    if ended_on is not None and (as_of is None or ended_on <= as_of):
        return "missed" if ended_on > due else "cancelled"
    if as_of is not None and as_of > due:
        return "overdue"
    return "open"


@record
class Deadline:
    """A dated obligation.  Repeating obligations are one Deadline per
    occurrence; ``met_on`` (fulfilled) or ``ended_on`` (stopped applying:
    the case moved on, or a tighter occurrence replaced it) closes it."""

    name: str
    due: date
    rule: str
    source: str
    opened_on: date
    met_on: date | None = None
    ended_on: date | None = None

    def status(self, as_of: date | None = None) -> str:
        """See :func:`deadline_status`."""
        return deadline_status(self.due, self.met_on, self.ended_on, as_of)

    @property
    def is_open(self) -> bool:
        """Still to be met: neither fulfilled nor stopped applying."""
        return self.met_on is None and self.ended_on is None


@record
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
