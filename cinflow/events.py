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
    AssessmentOutcome,
    ConferenceOutcome,
    CpEndOutcome,
    MeetingKind,
    MeetingOutcome,
    NeedCode,
    Role,
    S47Outcome,
)


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
    referral_source: str | None = None
    primary_need: NeedCode | None = None


@_name
@frozen
class TransferIn:
    event = "transfer_in"
    date: date
    from_authority: str | None = None


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


@_name
@frozen
class AssessmentCompleted:
    event = "assessment_completed"
    date: date
    outcome: AssessmentOutcome
    primary_need: NeedCode | None = None
    factors: tuple[str, ...] = ()


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
    categories: tuple[str, ...] = ()


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
    next_review: date | None = None


@_name
@frozen
class Visit:
    event = "visit"
    date: date
    seen_alone: bool | None = None


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
class ManagerDecision:
    event = "manager_decision"
    date: date
    kind: str = field()
    role: Role | None = None

    @kind.validator
    def _kind(self, attribute, value):
        if not value or not value.replace("_", "").isalnum() or value != value.lower():
            raise ValueError(f"kind must be a snake_case name, got {value!r}")


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


def attributes(ev) -> dict:
    """An event's own attributes (no ``date``), with defaults left out."""
    out = {}
    for a in type(ev).__attrs_attrs__:
        if a.name == "date":
            continue
        value = getattr(ev, a.name)
        if value != a.default:
            out[a.name] = value
    return out
