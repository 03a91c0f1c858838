"""Cheshire West and Chester (seed 003_0d7b761400208154.txt, dated March 2012).

The numbers, roles and citations are in policy.yaml; this module says which
events they attach to."""

from cinflow import hookimpl
from cinflow.states import PLAN_IN_FORCE
from cinflow.rulekit import (
    end_only_at_meeting, lead_professional_named, meeting_held, next_review_required, outcomes_recognised, plan_decisions,
)
from cinflow.rules import ChairRule, DeadlineRule, RuleBook, on

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info

PLAN = PLAN_IN_FORCE  # reviews and visits are due while the plan is in force
REVIEW = on("cin_meeting", kind="review")


@hookimpl
def chair_rules():
    return [ChairRule(RULES.initial_chair, {"initial"}), ChairRule(RULES.review_chair, {"review"})]


@hookimpl
def transition_guards():
    return [
        next_review_required(RULES.next_review_date),
        end_only_at_meeting(RULES.closure_needs_review, reviews_only=True),
        outcomes_recognised(RULES.review_outcomes),
        lead_professional_named(RULES.caf_lead_professional),
    ]


@hookimpl
def deadline_rules():
    return [
        DeadlineRule("initial_cin_meeting", RULES.initial_meeting,
                     opens_on=plan_decisions("assessment", "s47", "conference", "cp_step_down", "supervision_order"),
                     fulfilled_by=[on("cin_meeting", kind="initial")], while_in={"initial_cin"}),
        DeadlineRule("cin_review", RULES.first_review, opens_on=[meeting_held("initial")], fulfilled_by=[REVIEW],
                     while_in=PLAN, agreed_attr="next_review"),
        DeadlineRule("cin_review", RULES.review_interval, opens_on=[meeting_held("review")], fulfilled_by=[REVIEW],
                     while_in=PLAN, agreed_attr="next_review"),
        DeadlineRule("plan_circulation", RULES.plan_copies, opens_on=[on("cin_meeting", kind="initial")],
                     fulfilled_by=[on("plan_circulated")]),
        DeadlineRule("plan_circulation", RULES.review_copies, opens_on=[REVIEW], fulfilled_by=[on("plan_circulated")]),
    ]
