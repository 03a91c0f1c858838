"""Berkshire West's shared CIN guidance (seed 002_9701fea80e3d08df.txt): the
base layer under Reading, West Berkshire and Wokingham.

Not an authority itself (no entry point); each council's layer extends it and
adds its review frequency with :func:`review_deadline`."""

from cinflow import hookimpl
from cinflow.states import PLAN_IN_FORCE, PLAN_OPEN
from cinflow.rulekit import (
    EARLY_HELP, ENDINGS, ENDS_PLAN, HARM_LIKELY, NO_SHORT_BREAKS, PLAN_ENDING_EVENTS, SHORT_BREAKS, all_of, decision_date, meeting_held,
    lead_professional_named, minimum_plan_length, outcomes_recognised, plan_decisions, requires_decision, supervision_order_runs,
)
from cinflow.rules import ConsentRoute, DeadlineRule, Predicate, RuleBook, on

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info

PLAN = PLAN_IN_FORCE  # reviews and visits are due while the plan is in force
AFTER_CP = Predicate("the plan followed a child protection plan", lambda ctx: ctx.facts.plan_origin == "cp_step_down")
UNDER_ORDER = Predicate("the plan supports a supervision order", lambda ctx: ctx.facts.plan_origin == "supervision_order")
REVIEW = on("cin_meeting", kind="review")


def review_deadline(rule) -> DeadlineRule:
    """A council's review frequency: counted from each meeting at which the
    plan continues; an earlier date agreed at the meeting wins.  Short-breaks
    plans are outside the guidance (``short_breaks_excluded``)."""
    return DeadlineRule("cin_review", rule, opens_on=[meeting_held()], fulfilled_by=[REVIEW], while_in=PLAN,
                        applies=NO_SHORT_BREAKS, agreed_attr="next_review")


@hookimpl
def transition_guards():
    return [
        outcomes_recognised(RULES.review_outcomes),
        minimum_plan_length(RULES.minimum_plan_length),
        requires_decision(RULES.post_cp_plan_ending, PLAN_ENDING_EVENTS, all_of(ENDS_PLAN, AFTER_CP),
                          "Ending a CIN plan that followed a child protection plan", ENDINGS),
        requires_decision(RULES.no_plan_after_cp, {"cp_plan_ended"},
                          Predicate("the CP plan ends without a CIN plan", lambda ctx: ctx.event.outcome == "closed"),
                          "Ending child protection without a CIN plan", {"closed"}),
        supervision_order_runs(RULES.supervision_order),
        lead_professional_named(RULES.step_down_lead_professional, universal_services=True),
    ]


@hookimpl
def consent_refusal_routes():
    return [
        ConsentRoute(RULES.consent_refused_harm, "s47_enquiry", HARM_LIKELY),
        ConsentRoute(RULES.consent_refused_early_help, "stepped_down", EARLY_HELP),
        ConsentRoute(RULES.consent_not_imposed, "closed"),
    ]


@hookimpl
def deadline_rules():
    visits = dict(opens_on=[meeting_held("initial"), on("visit")], fulfilled_by=[on("visit")], while_in=PLAN)
    return [
        DeadlineRule("initial_cin_meeting", RULES.initial_meeting,
                     opens_on=plan_decisions("assessment", "s47", "conference", "cp_step_down", "supervision_order"),
                     fulfilled_by=[on("cin_meeting", kind="initial")], while_in={"initial_cin"}, start=decision_date),
        # Same interval: the supervision-order rule is listed first so an order's visits cite it.
        DeadlineRule("visit", RULES.supervision_order_visits, applies=UNDER_ORDER, **visits),
        DeadlineRule("visit", RULES.visit_interval, applies=NO_SHORT_BREAKS, **visits),
        DeadlineRule("visit", RULES.short_breaks_visits, applies=SHORT_BREAKS, **visits),
        DeadlineRule("visit_record", RULES.visit_recording, opens_on=[on("visit")], fulfilled_by=[on("visit_recorded")]),
        DeadlineRule("minutes", RULES.minutes, opens_on=[on("cin_meeting")], fulfilled_by=[on("minutes_circulated")]),
        DeadlineRule("plan_circulation", RULES.amended_plan_circulation, opens_on=[meeting_held()],
                     fulfilled_by=[on("plan_circulated")]),
        # From the assessment that found the need; a plan made otherwise counts from its initial
        # meeting (an earlier date already open stands: tighten).
        DeadlineRule("assessment_update", RULES.assessment_update,
                     opens_on=[*plan_decisions("assessment", "s47"), meeting_held("initial"), on("assessment_updated")],
                     fulfilled_by=[on("assessment_updated")], while_in=PLAN_OPEN),
    ]
