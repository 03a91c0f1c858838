"""A London borough with records on Azeus Care (seed 001_0fbde886a1ba2318.txt).

The numbers, roles and citations are in policy.yaml; this module says which
events they attach to."""

from cinflow import hookimpl
from cinflow.states import PLAN_IN_FORCE
from datetime import timedelta

from cinflow.calendar import add_months
from cinflow.models import not_before
from cinflow.rulekit import (
    CONTINUING, DISABLED, EARLY_HELP, HARM_LIKELY, ENDINGS, ENDS_PLAN, NOT_DISABLED, PLAN_ENDING_EVENTS, all_of, decided, decision_date, happened_since,
    lead_professional_named, meeting_held, negate, next_review_required, outcomes_recognised, plan_decisions, recorded,
)
from cinflow.rulekit import requires_decision
from cinflow.rules import ChairRule, ConsentRoute, DeadlineRule, Guard, Predicate, Refusal, RuleBook, on
from cinflow.vocabulary import CONTINUING_OUTCOMES, roles_in_words

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info

PLAN = PLAN_IN_FORCE  # reviews and visits are due while the plan is in force
SEEN_ALONE = on("visit", seen_alone=True)
EXCEPTION = decided(RULES.review_exception)
STANDARD_CYCLE = all_of(NOT_DISABLED, negate(EXCEPTION))
EXTENDED = decided(RULES.twelve_month_limit)


def _first_review_after_extension(ctx) -> bool:
    """The Service Manager agreed to go past 12 months and no review has been
    held since that decision."""
    kind = RULES.extension_review_chair.param("decision")
    agreed = [d.date for d in ctx.facts.decisions if d.kind == kind]
    return bool(agreed) and not happened_since(ctx.case, "cin_meeting", max(agreed))


EXTENSION_REVIEW = Predicate("the first review after the Service Manager agreed to go past 12 months",
                             _first_review_after_extension)


@hookimpl
def chair_rules():
    return [
        ChairRule(RULES.initial_chair, {"initial"}),
        ChairRule(RULES.review_chair_agreed, {"review"}, negate(EXTENSION_REVIEW)),
        ChairRule(RULES.extension_review_chair, {"review"}, EXTENSION_REVIEW),
    ]


def _review_chair_agreed(ctx):
    ev, agreed = ctx.event, ctx.facts.review_chair
    if ev.kind == "initial" and ev.outcome in CONTINUING_OUTCOMES and ev.review_chair is None:
        return "The initial meeting must agree who will chair the reviews (record review_chair)."
    if ev.kind == "review" and agreed and ev.chair != agreed and not EXTENSION_REVIEW(ctx):
        return (f"The reviews were agreed to be chaired by {roles_in_words([agreed])}; "
                f"this one was chaired by {roles_in_words([ev.chair])} (a meeting may agree a new review_chair).")
    return None


def _past_twelve_months(ctx):
    rule, ev, facts = RULES.twelve_month_limit, ctx.event, ctx.facts
    if ev.kind != "review" or ev.outcome not in CONTINUING_OUTCOMES or facts.plan_started is None:
        return None
    limit = add_months(facts.plan_started, rule.param("months"))
    if ctx.date < limit or EXTENDED(ctx) or facts.decided_since(rule.param("alternative"), facts.plan_required_on):
        return None
    return (f"The plan reached 12 months on {limit.isoformat()}: continuing it needs the Service Manager's agreement "
            f"first (manager_decision kind {rule.param('decision')} by a Service Manager), unless long-term support "
            f"was agreed (manager_decision kind {rule.param('alternative')}).")


def _not_too_early(ctx):
    """Invitations no earlier than the window before the meeting they are for."""
    meeting = ctx.event.meeting_on
    if meeting is None:
        due = min((d.due for d in ctx.case.deadlines if d.name == "invitations" and d.is_open), default=None)
        meeting = due + timedelta(weeks=-RULES.invitations.timescale.at(due).amount) if due else None
    if meeting is None:
        return None
    opens = meeting - timedelta(weeks=RULES.invitation_window.param("weeks"))
    if ctx.date < opens:
        return Refusal(f"Invitations for the meeting on {meeting.isoformat()} go out from {opens.isoformat()} "
                       "(3 to 4 weeks before it), not earlier.", (not_before(opens),))
    return None


def _handed_over(ctx):
    since = next((h.date for h in reversed(ctx.case.history) if h.accepted and h.event == "move_notified"), None)
    missing = [e for e in ("receiving_authority_notified", "transfer_information_sent")
               if not happened_since(ctx.case, e, since)]
    if missing:
        return f"The receiving authority must be formally notified and sent the case information first (missing: {', '.join(missing)})."
    return None


@hookimpl
def transition_guards():
    return [
        Guard(RULES.review_chair_agreed, {"cin_meeting"}, _review_chair_agreed),
        next_review_required(RULES.next_meeting_date),
        outcomes_recognised(RULES.review_outcomes),
        Guard(RULES.twelve_month_limit, {"cin_meeting"}, _past_twelve_months, CONTINUING),
        requires_decision(RULES.conclusion_agreed, PLAN_ENDING_EVENTS, ENDS_PLAN, "Ending the plan", ENDINGS,
                          each_role=True),
        Guard(RULES.invitation_window, {"invitations_sent"}, _not_too_early),
        lead_professional_named(RULES.step_down_lead_professional),
        Guard(RULES.transfer_out_handover, {"transfer_completed"}, _handed_over),
    ]


@hookimpl
def consent_refusal_routes():
    return [
        ConsentRoute(RULES.consent_refused_harm, "s47_enquiry", HARM_LIKELY),
        ConsentRoute(RULES.consent_refused_targeted, "stepped_down", EARLY_HELP),
        ConsentRoute(RULES.consent_refused_single_agency, "closed"),
    ]


@hookimpl
def deadline_rules():
    initial, review, any_meeting = on("cin_meeting", kind="initial"), on("cin_meeting", kind="review"), on("cin_meeting")
    rules = [
        DeadlineRule("initial_cin_meeting", RULES.initial_meeting,
                     opens_on=plan_decisions("assessment", "s47", "conference", "cp_step_down", "supervision_order"),
                     fulfilled_by=[initial], while_in={"initial_cin"}, start=decision_date),
        DeadlineRule("initial_cin_meeting", RULES.transfer_in_meeting, opens_on=plan_decisions("transfer_in"),
                     fulfilled_by=[initial], while_in={"initial_cin"}, start=decision_date),
        DeadlineRule("cin_review", RULES.first_review, opens_on=[meeting_held("initial")], fulfilled_by=[review],
                     while_in=PLAN, applies=STANDARD_CYCLE, agreed_attr="next_review"),
        DeadlineRule("cin_review", RULES.review_interval, opens_on=[meeting_held("review")], fulfilled_by=[review],
                     while_in=PLAN, applies=STANDARD_CYCLE, agreed_attr="next_review"),
        DeadlineRule("cin_review", RULES.review_exception, opens_on=[meeting_held()], fulfilled_by=[review],
                     while_in=PLAN, applies=all_of(NOT_DISABLED, EXCEPTION), agreed_attr="next_review"),
        DeadlineRule("cin_review", RULES.disabled_review_interval, opens_on=[meeting_held()], fulfilled_by=[review],
                     while_in=PLAN, applies=DISABLED, agreed_attr="next_review"),
        DeadlineRule("invitations", RULES.invitations, opens_on=[meeting_held()], fulfilled_by=[on("invitations_sent")],
                     while_in=PLAN, applies=recorded("next_review"), start=lambda ctx: ctx.event.next_review,
                     reopen="replace"),
        DeadlineRule("visit", RULES.visit_interval, opens_on=[meeting_held("initial"), SEEN_ALONE],
                     fulfilled_by=[SEEN_ALONE], while_in=PLAN, agreed_attr="next_visit"),
        DeadlineRule("plan_update", RULES.plan_update, opens_on=[any_meeting], fulfilled_by=[on("plan_updated")]),
        DeadlineRule("plan_circulation", RULES.plan_circulation, opens_on=[any_meeting],
                     fulfilled_by=[on("plan_circulated")]),
        DeadlineRule("meeting_record", RULES.meeting_recording, opens_on=[any_meeting],
                     fulfilled_by=[on("meeting_recorded")]),
        DeadlineRule("service_manager_review", RULES.nine_month_review, opens_on=[meeting_held("initial")],
                     fulfilled_by=[on("manager_decision", kind=RULES.nine_month_review.param("decision"),
                                         role=RULES.nine_month_review.param("decision_roles"))],
                     while_in=PLAN),
    ]
    return rules
