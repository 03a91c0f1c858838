"""My Council's Child in Need procedure as a cinflow policy plugin.

``RULES`` is policy.yaml (numbers, texts, roles, citations); the hook
implementations below attach those rules to lifecycle events.  Each hook is
optional: implement the ones your procedure needs.  The building blocks are in
cinflow.rules (Guard, ChairRule, ConsentRoute, DeadlineRule) and
cinflow.rulekit (predicates and ready-made guards)."""

from cinflow import hookimpl
from cinflow.states import PLAN_IN_FORCE
from cinflow.rulekit import HARM_LIKELY, end_only_at_meeting, meeting_held
from cinflow.rules import ChairRule, ConsentRoute, DeadlineRule, RuleBook, on

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info

PLAN = PLAN_IN_FORCE  # reviews and visits are due while the plan is in force


@hookimpl
def chair_rules():
    """Who may chair which meetings."""
    return [ChairRule(RULES.initial_chair, {"initial"})]


@hookimpl
def transition_guards():
    """Events your procedure refuses, with the reason."""
    return [end_only_at_meeting(RULES.closure_at_review, reviews_only=True)]


@hookimpl
def consent_refusal_routes():
    """Where refused consent leads (checked before the national routes)."""
    return [ConsentRoute(RULES.consent_refused_harm, "s47_enquiry", HARM_LIKELY)]


@hookimpl
def deadline_rules():
    """Timescales: which event opens each deadline and which meets it."""
    return [
        DeadlineRule("initial_cin_meeting", RULES.initial_meeting, opens_on=[on("assessment_completed", outcome="cin_plan")],
                     fulfilled_by=[on("cin_meeting", kind="initial")], while_in={"initial_cin"}),
        DeadlineRule("cin_review", RULES.review_interval, opens_on=[meeting_held()],
                     fulfilled_by=[on("cin_meeting", kind="review")], while_in=PLAN, agreed_attr="next_review"),
    ]
