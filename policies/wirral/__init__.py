"""Wirral (seed 004_d34424156da75e59.txt).

The numbers, roles and citations are in policy.yaml; this module says which
events they attach to."""

from cinflow import hookimpl
from cinflow.states import PLAN_IN_FORCE
from cinflow.rulekit import (
    HARM_LIKELY, PLAN_STATES, decision_date, lead_professional_named, meeting_held, next_review_required, plan_decisions,
    requires_decision, young_person_consents,
)
from cinflow.rules import ChairRule, ConsentRoute, DeadlineRule, Predicate, RuleBook, on

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info

PLAN = PLAN_IN_FORCE  # reviews and visits are due while the plan is in force
SEEN_ALONE = on("visit", seen_alone=True)
NO_ALTERNATIVE = Predicate(
    "support under the plan is refused and no suitable alternative is proposed",
    lambda ctx: ctx.case.state in PLAN_STATES and not ctx.event.alternative_support,
)
SOCIAL_WORKER_AVAILABLE = Predicate("the social worker can chair (usual_chair_unavailable is not recorded)",
                                    lambda ctx: not ctx.event.usual_chair_unavailable)
STEP_DOWN = Predicate("the meeting steps the case down", lambda ctx: ctx.event.outcome == "step_down")


@hookimpl
def chair_rules():
    return [ChairRule(RULES.chair, {"initial", "review"}, SOCIAL_WORKER_AVAILABLE)]


@hookimpl
def transition_guards():
    return [
        next_review_required(RULES.next_review_date),
        requires_decision(RULES.withheld_consent_discussion, {"consent_refused"}, NO_ALTERNATIVE,
                          "Before a refusal of the plan is accepted or escalated, hold the reflective case discussion"),
        requires_decision(RULES.step_down_to_taf, {"cin_meeting"}, STEP_DOWN,
                          "Stepping down to Team Around the Family follows a discussion with the line manager",
                          {"stepped_down"}),
        lead_professional_named(RULES.taf_lead_professional),
        young_person_consents(RULES.young_person_consent),
    ]


@hookimpl
def consent_refusal_routes():
    return [
        ConsentRoute(RULES.withheld_consent_harm, "s47_enquiry", HARM_LIKELY),
        ConsentRoute(RULES.withheld_consent_accepted, "closed"),
    ]


@hookimpl
def deadline_rules():
    any_meeting = on("cin_meeting")
    return [
        DeadlineRule("initial_cin_meeting", RULES.planning_meeting,
                     opens_on=plan_decisions("assessment", "s47", "conference", "cp_step_down", "supervision_order"),
                     fulfilled_by=[on("cin_meeting", kind="initial")], while_in={"initial_cin"}, start=decision_date),
        DeadlineRule("cin_review", RULES.review_frequency, opens_on=[meeting_held()],
                     fulfilled_by=[on("cin_meeting", kind="review")], while_in=PLAN, agreed_attr="next_review"),
        DeadlineRule("minutes", RULES.minutes, opens_on=[any_meeting], fulfilled_by=[on("minutes_circulated")]),
        DeadlineRule("plan_circulation", RULES.plan_circulation, opens_on=[any_meeting],
                     fulfilled_by=[on("plan_circulated")]),
        DeadlineRule("plan_circulation", RULES.plan_and_minutes_circulation, opens_on=[any_meeting],
                     fulfilled_by=[on("plan_circulated")]),
        DeadlineRule("visit", RULES.visit_interval, opens_on=[meeting_held("initial"), SEEN_ALONE],
                     fulfilled_by=[SEEN_ALONE], while_in=PLAN),
        DeadlineRule("step_down", RULES.step_down_completion, opens_on=[on("cin_meeting", outcome="step_down")],
                     fulfilled_by=[on("step_down_completed")]),
    ]
