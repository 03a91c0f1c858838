"""Example Shire (fictional): a complete out-of-tree cinflow policy plugin.

Everything a council plugin needs: ``POLICY`` (who it is), a rule book
(policy.yaml: numbers, texts, roles, citations) and hook implementations that
attach those rules to lifecycle events.  See procedure.md for the source."""

from cinflow import hookimpl
from cinflow.states import PLAN_IN_FORCE
from cinflow.rulekit import EARLY_HELP, ENDINGS, ENDS_PLAN, PLAN_ENDING_EVENTS, meeting_held, requires_decision
from attrs import frozen

from cinflow.rules import ChairRule, ConsentRoute, DeadlineRule, Predicate, RuleBook, RuleParams, on


@frozen
class ShireParams(RuleParams):
    """Example Shire's own rule parameter, typed like the built-in ones."""

    under_age: int | None = None


RULES = RuleBook.from_package(__name__, params=ShireParams)
POLICY = RULES.info

PLAN = PLAN_IN_FORCE  # reviews and visits are due while the plan is in force
UNDER_FIVE = Predicate("the child is under 5", lambda ctx: ctx.age < RULES.young_child_visits.param("under_age"))
FIVE_OR_OVER = Predicate("the child is 5 or over", lambda ctx: ctx.age >= RULES.young_child_visits.param("under_age"))


@hookimpl
def chair_rules():
    return [ChairRule(RULES.initial_chair, {"initial"}), ChairRule(RULES.review_chair, {"review"})]


@hookimpl
def transition_guards():
    return [requires_decision(RULES.closure_sign_off, PLAN_ENDING_EVENTS, ENDS_PLAN, "Ending the plan", ENDINGS)]


@hookimpl
def consent_refusal_routes():
    return [ConsentRoute(RULES.consent_refused_early_help, "stepped_down", EARLY_HELP)]


@hookimpl
def deadline_rules():
    visits = dict(opens_on=[meeting_held("initial"), on("visit")], fulfilled_by=[on("visit")], while_in=PLAN)
    return [
        DeadlineRule("initial_cin_meeting", RULES.initial_meeting, opens_on=[on("assessment_completed", outcome="cin_plan")],
                     fulfilled_by=[on("cin_meeting", kind="initial")], while_in={"initial_cin"}),
        DeadlineRule("cin_review", RULES.review_interval, opens_on=[meeting_held()],
                     fulfilled_by=[on("cin_meeting", kind="review")], while_in=PLAN, agreed_attr="next_review"),
        DeadlineRule("visit", RULES.young_child_visits, applies=UNDER_FIVE, **visits),
        DeadlineRule("visit", RULES.visits, applies=FIVE_OR_OVER, **visits),
    ]
