"""A tiny in-test policy that uses every hook (datasette's tests/plugins idea)."""

from cinflow import hookimpl
from cinflow.rules import ChairRule, ConsentRoute, DeadlineRule, Guard, Predicate, RuleBook, on

RULES = RuleBook.from_yaml("""
policy: {id: strict-town, title: Strict Town, description: every hook at once, document: test-procedure.txt}
rules:
  no_weekend_visits: {text: No visits at weekends., section: §1}
  lead_professional_chairs: {text: The lead professional chairs reviews., section: §2, params: {roles: [lead_professional]}}
  always_s47: {text: Refused consent always goes to s47., section: §3}
  faster_assessment:
    text: Assessments within 20 working days.
    section: §4
    timescale: {unit: working_days, counts_from: the referral, values: {"2020-01-01": 20, "2027-01-01": 15}}
""", "strict_town")
POLICY = RULES.info


def _weekday(ctx):
    return "Visits happen on weekdays." if ctx.date.weekday() >= 5 else None


@hookimpl
def transition_guards(policy):
    assert policy.id == "strict-town"
    return [Guard(RULES.no_weekend_visits, {"visit"}, _weekday)]


@hookimpl
def chair_rules():
    return [ChairRule(RULES.lead_professional_chairs, {"review"})]


@hookimpl
def consent_refusal_routes():
    return [ConsentRoute(RULES.always_s47, "s47_enquiry")]


@hookimpl
def deadline_rules():
    return [DeadlineRule("assessment", RULES.faster_assessment, opens_on=[on("referral_received")],
                         fulfilled_by=[on("assessment_completed")], while_in={"referral", "assessment"})]
