"""Kent County Council (seed 000_1fb2c8a7d3e76d05.txt).

The numbers, roles and citations are in policy.yaml; this module says which
events they attach to."""

from cinflow import hookimpl
from cinflow.states import PLAN_IN_FORCE
from cinflow.rulekit import (
    DISABLED, ENDINGS, NOT_DISABLED, UNPLANNED_MOVE, decision_date, end_only_at_meeting, meeting_held, minimum_plan_length,
    requires_decision, supervision_order_runs,
)
from cinflow.rules import ChairRule, DeadlineRule, Guard, Predicate, RuleBook, on

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info

PLAN = PLAN_IN_FORCE  # reviews and visits are due while the plan is in force
MEETING_HELD = meeting_held()
PAPERWORK = {"minutes": "minutes_circulated", "case_note": "case_note_recorded", "plan_authorisation": "plan_authorised"}


def _iro_required(ctx) -> bool:
    p = RULES.iro_chair.params
    child = ctx.child
    return child.short_break_nights > p["max_short_break_nights"] or child.short_break_settings > p["max_overnight_settings"]


IRO_REQUIRED = Predicate("short breaks over 75 nights a year or more than 2 overnight settings", _iro_required)
NOT_IRO_REQUIRED = Predicate("not a short-breaks case needing an IRO", lambda ctx: not _iro_required(ctx))


@hookimpl
def chair_rules():
    return [
        ChairRule(RULES.initial_chair, {"initial"}),
        ChairRule(RULES.review_chair, {"review"}, NOT_IRO_REQUIRED),
        ChairRule(RULES.iro_chair, {"review"}, IRO_REQUIRED),
    ]


ENDING_MEETING = Predicate("the meeting closes the plan or steps it down",
                           lambda ctx: ctx.event.outcome in ("close", "step_down"))


@hookimpl
def transition_guards():
    return [
        # The Assistant Director's view is the route the procedure names; the builder exempts RC1-RC6 endings.
        minimum_plan_length(RULES.cp_step_down_minimum, origins={"cp_step_down"}, waivable=True),
        end_only_at_meeting(RULES.end_at_meeting),
        requires_decision(RULES.closure_rationale, {"cin_meeting"}, ENDING_MEETING,
                          "Closing or stepping down the plan at this meeting", ENDINGS),
        supervision_order_runs(RULES.supervision_order_plan),
    ]


@hookimpl
def deadline_rules():
    initial = on("cin_meeting", kind="initial")
    rules = [
        DeadlineRule("initial_cin_meeting", RULES.initial_meeting,
                     opens_on=[on("assessment_completed", outcome="cin_plan"), on("s47_completed", outcome="cin_plan")],
                     fulfilled_by=[initial], while_in={"initial_cin"}),
        DeadlineRule("initial_cin_meeting", RULES.cp_step_down_meeting,
                     opens_on=[on("cp_plan_ended", outcome="cin_plan"), on("icpc_held", outcome="cin_plan")],
                     fulfilled_by=[initial], while_in={"initial_cin"}),
        DeadlineRule("initial_cin_meeting", RULES.transfer_in_meeting,
                     opens_on=[on("transfer_in")], fulfilled_by=[initial], while_in={"initial_cin"}),
        DeadlineRule("initial_cin_meeting", RULES.transfer_in_residence,
                     opens_on=[on("transfer_in")], fulfilled_by=[initial], while_in={"initial_cin"}, start=decision_date),
        DeadlineRule("cin_review", RULES.review_interval, opens_on=[MEETING_HELD],
                     fulfilled_by=[on("cin_meeting", kind="review")], while_in=PLAN,
                     applies=NOT_DISABLED, agreed_attr="next_review"),
        DeadlineRule("cin_review", RULES.disabled_first_review, opens_on=[meeting_held("initial")],
                     fulfilled_by=[on("cin_meeting", kind="review")], while_in=PLAN,
                     applies=DISABLED, agreed_attr="next_review"),
        DeadlineRule("cin_review", RULES.disabled_review_interval, opens_on=[meeting_held("review")],
                     fulfilled_by=[on("cin_meeting", kind="review")], while_in=PLAN,
                     applies=DISABLED, agreed_attr="next_review"),
        DeadlineRule("visit", RULES.visit_interval,
                     opens_on=[meeting_held("initial"), on("visit")],
                     fulfilled_by=[on("visit")], while_in=PLAN, agreed_attr="next_visit"),
        DeadlineRule("transfer_notification", RULES.transfer_notification, opens_on=[on("move_notified")],
                     fulfilled_by=[on("receiving_authority_notified")], while_in={"transfer_out"},
                     start=lambda ctx: ctx.event.moved_on if ctx.event.planned and ctx.event.moved_on else ctx.date),
        DeadlineRule("transfer_information", RULES.transfer_information, opens_on=[on("move_notified")],
                     fulfilled_by=[on("transfer_information_sent")], while_in={"transfer_out"}),
        DeadlineRule("case_records", RULES.unplanned_move_records, opens_on=[on("move_notified")],
                     fulfilled_by=[on("case_records_completed")], while_in={"transfer_out"}, applies=UNPLANNED_MOVE),
    ]
    rules += [
        DeadlineRule(name, getattr(RULES, name), opens_on=[on("cin_meeting")], fulfilled_by=[on(event)])
        for name, event in PAPERWORK.items()
    ]
    return rules
