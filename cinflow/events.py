"""The events a case can receive, one frozen record per kind.

The event name is the ``event`` tag in scenario files; the attributes are the
only keys that event accepts (an unknown key is an error at the edge).
Census-relevant facts (referral source, primary need, assessment factors,
categories of abuse) ride on the events that establish them.
"""

from __future__ import annotations

from datetime import date

from attrs import field, frozen

from .vocabulary import (
    AbuseCategory,
    AssessmentFactor,
    AssessmentOutcome,
    ConferenceOutcome,
    CpEndOutcome,
    MeetingKind,
    MeetingOutcome,
    NeedCode,
    ReferralSource,
    Role,
    S47Outcome,
)


def _not_after_event(instance, attribute, value):
    if value is not None and value > instance.date:
        raise ValueError(f"{attribute.name} ({value.isoformat()}) cannot be after the event's date ({instance.date.isoformat()})")


def _name(cls):
    """Register an event class under its snake_case ``event`` tag."""
    EVENT_TYPES[cls.event] = cls
    return cls


EVENT_TYPES: dict[str, type] = {}


@_name
@frozen
class ReferralReceived:
    event = "referral_received"
    date: date
    referral_source: ReferralSource | None = None
    primary_need: NeedCode | None = None

    def sets_facts(self, facts) -> dict:
        return {"referral_date": self.date, "referral_source": self.referral_source, "primary_need": self.primary_need}


@_name
@frozen
class TransferIn:
    event = "transfer_in"
    date: date
    from_authority: str | None = None
    # When the family became resident here, if before the transfer was recorded.
    resident_since: date | None = field(default=None, validator=_not_after_event)

    def sets_facts(self, facts) -> dict:
        return {"referral_date": self.date}


@_name
@frozen
class ConsentGiven:
    event = "consent_given"
    date: date
    young_person_consent: bool | None = None


@_name
@frozen
class ConsentRefused:
    event = "consent_refused"
    date: date
    significant_harm_likely: bool = False
    # The practitioner's judgement on the alternatives (policies route on these).
    early_help: bool = False
    alternative_support: bool = False


@_name
@frozen
class AssessmentCompleted:
    event = "assessment_completed"
    date: date
    outcome: AssessmentOutcome
    primary_need: NeedCode | None = None
    factors: tuple[AssessmentFactor, ...] = ()
    # When the plan decision was made, if during the assessment (before completion).
    decided_on: date | None = field(default=None, validator=_not_after_event)

    def sets_facts(self, facts) -> dict:
        return {"primary_need": self.primary_need} if self.primary_need is not None else {}


@_name
@frozen
class StrategyDiscussion:
    event = "strategy_discussion"
    date: date


@_name
@frozen
class S47Completed:
    event = "s47_completed"
    date: date
    outcome: S47Outcome
    # Factors found by the assessment carried out under s47 (census AssessmentFactors).
    factors: tuple[AssessmentFactor, ...] = ()


@_name
@frozen
class IcpcHeld:
    """An initial child protection conference that made no CP plan."""

    event = "icpc_held"
    date: date
    outcome: ConferenceOutcome


@_name
@frozen
class CpPlanStarted:
    event = "cp_plan_started"
    date: date
    categories: tuple[AbuseCategory, ...] = ()
    # Child protection plans the child had before this one (census NumberOfPreviousCPP).
    previous_plans: int = field(default=0)

    @previous_plans.validator
    def _not_negative(self, attribute, value):
        if value < 0:
            raise ValueError(f"previous_plans must be 0 or more, got {value}")


@_name
@frozen
class CpReview:
    """A child protection review conference."""

    event = "cp_review"
    date: date


@_name
@frozen
class CpPlanEnded:
    event = "cp_plan_ended"
    date: date
    outcome: CpEndOutcome


@_name
@frozen
class CinMeeting:
    event = "cin_meeting"
    date: date
    kind: MeetingKind
    chair: Role
    outcome: MeetingOutcome
    next_review: date | None = field(default=None)
    # Who the meeting agreed will chair the reviews that follow.
    review_chair: Role | None = None
    # A lead professional was identified for the child after step-down.
    lead_professional_named: bool | None = None
    # The usual chair (e.g. the social worker) could not chair, for
    # unforeseen reasons, and another professional stepped in.
    usual_chair_unavailable: bool | None = None

    @next_review.validator
    def _after_meeting(self, attribute, value):
        if value is not None and value <= self.date:
            raise ValueError(f"next_review ({value.isoformat()}) must be after the meeting ({self.date.isoformat()})")

    def sets_facts(self, facts) -> dict:
        out = {"last_meeting": self.date}
        if self.kind == "initial":
            out["plan_started"] = self.date
        if self.review_chair is not None:
            out["review_chair"] = self.review_chair
        return out


@_name
@frozen
class Visit:
    event = "visit"
    date: date
    seen_alone: bool | None = None
    # A sooner next visit agreed in the plan.
    next_visit: date | None = None


@_name
@frozen
class MinutesCirculated:
    event = "minutes_circulated"
    date: date


@_name
@frozen
class CaseNoteRecorded:
    event = "case_note_recorded"
    date: date


@_name
@frozen
class PlanAuthorised:
    event = "plan_authorised"
    date: date


@_name
@frozen
class PlanUpdated:
    event = "plan_updated"
    date: date


@_name
@frozen
class PlanCirculated:
    event = "plan_circulated"
    date: date


@_name
@frozen
class MeetingRecorded:
    event = "meeting_recorded"
    date: date


@_name
@frozen
class VisitRecorded:
    event = "visit_recorded"
    date: date


@_name
@frozen
class InvitationsSent:
    event = "invitations_sent"
    date: date
    meeting_on: date | None = None


@_name
@frozen
class AssessmentUpdated:
    """The single assessment was updated while the plan is in force."""

    event = "assessment_updated"
    date: date


@_name
@frozen
class StepDownCompleted:
    """The step-down to early help was completed on the case system."""

    event = "step_down_completed"
    date: date


@_name
@frozen
class SupervisionOrderMade:
    """A court made a supervision order; the child is supported on a CIN plan
    for the order's duration."""

    event = "supervision_order_made"
    date: date
    ends_on: date = field()

    @ends_on.validator
    def _after(self, attribute, value):
        if value <= self.date:
            raise ValueError(f"ends_on ({value.isoformat()}) must be after the order is made ({self.date.isoformat()})")

    def sets_facts(self, facts) -> dict:
        return {"supervision_order_ends": self.ends_on}


@_name
@frozen
class ManagerDecision:
    """A manager's recorded decision.  ``kind: exception`` records an
    authorised departure from a ``should`` rule (comply or explain): it names
    the ``rule`` (its id), who authorised it (``role``) and why (``reason``);
    the next event that rule would refuse is then accepted, once."""

    event = "manager_decision"
    date: date
    kind: str = field()
    role: Role | None = None
    rule: str | None = None
    reason: str | None = None

    @kind.validator
    def _kind(self, attribute, value):
        if not value or not value.replace("_", "").isalnum() or value != value.lower():
            raise ValueError(f"kind must be a snake_case name, got {value!r}")

    def __attrs_post_init__(self):
        if self.kind == "exception":
            for name in ("rule", "role", "reason"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: an exception names the rule, who authorised it (role) and the reason")
        elif self.rule is not None:
            raise ValueError(f"rule: only a manager_decision of kind exception names a rule (this is {self.kind!r})")

    def sets_facts(self, facts) -> dict:
        from .engine import record_decision

        return record_decision(facts, self)


@_name
@frozen
class MoveNotified:
    event = "move_notified"
    date: date
    planned: bool
    moved_on: date | None = None


@_name
@frozen
class ReceivingAuthorityNotified:
    event = "receiving_authority_notified"
    date: date


@_name
@frozen
class TransferInformationSent:
    event = "transfer_information_sent"
    date: date


@_name
@frozen
class CaseRecordsCompleted:
    event = "case_records_completed"
    date: date


@_name
@frozen
class TransferCompleted:
    event = "transfer_completed"
    date: date


@_name
@frozen
class BecameLookedAfter:
    event = "became_looked_after"
    date: date


@_name
@frozen
class MovedAbroad:
    """The child moved permanently outside England and Wales."""

    event = "moved_abroad"
    date: date


@_name
@frozen
class ChildDied:
    event = "child_died"
    date: date


@_name
@frozen
class CaseClosed:
    event = "case_closed"
    date: date
    reason: str


@_name
@frozen
class EighteenthBirthday:
    """Made by the engine, never by a caller: the child turned 18."""

    event = "eighteenth_birthday"
    date: date


AUTOMATIC_EVENTS = frozenset({"eighteenth_birthday"})
SUBMITTABLE_EVENTS = tuple(sorted(set(EVENT_TYPES) - AUTOMATIC_EVENTS))


NO_ATTRIBUTES: dict = {}  # shared by every history item without attributes; never mutated
_FIELDS: dict = {}       # event class -> its items function (_items_function)
_SHARED: dict = {}       # equal attribute dicts are one object (history items never mutate them)


def _items_function(cls):
    """A function giving ``((attribute, value), ...)`` of an event of ``cls``
    whose value is not the default, in field order (made once per class:
    every attribute read directly)."""
    fields = [(a.name, a.default) for a in cls.__attrs_attrs__ if a.name != "date"]
    if not fields:
        return lambda ev: ()
    lines = ["def items(ev):", "    out = []"]
    for i, (name, _) in enumerate(fields):
        lines += [f"    v = ev.{name}", f"    if v != d{i}:", f"        out.append(({name!r}, v))"]
    lines.append("    return tuple(out)")
    namespace = {f"d{i}": default for i, (_, default) in enumerate(fields)}
    exec("\n".join(lines), namespace)  # noqa: S102 (field names of our own event classes)
    return namespace["items"]


def attributes(ev) -> dict:
    """An event's own attributes (no ``date``), with defaults left out.  Equal
    results are the same (read-only) dict, so a long history costs little memory."""
    cls = type(ev)
    items_of = _FIELDS.get(cls)
    if items_of is None:
        items_of = _FIELDS[cls] = _items_function(cls)
    items = items_of(ev)
    if not items:
        return NO_ATTRIBUTES
    try:
        return _SHARED[items]
    except KeyError:
        if len(_SHARED) > 200_000:
            _SHARED.clear()
        out = _SHARED[items] = dict(items)
        return out
    except TypeError:  # an unhashable value
        return dict(items)
