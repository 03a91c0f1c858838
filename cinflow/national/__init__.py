"""The national baseline policy (``england``), registered first under every
authority.  The lifecycle's ends (death, becoming looked after, a CP plan,
transfer, the 18th birthday) are transitions in :mod:`cinflow.states`; what
this layer adds is consent, the consent-refusal routes and the 45-working-day
assessment deadline."""

from cinflow import hookimpl
from cinflow.rulekit import HARM_LIKELY, young_person_consents
from cinflow.rules import ConsentRoute, DeadlineRule, Guard, RuleBook, on

RULES = RuleBook.from_package(__name__)
POLICY = RULES.info

OPEN_BEFORE_PLAN = ("referral", "assessment", "s47_enquiry")


def _must_be_a_child(ctx):
    if ctx.age >= 18:
        return f"The person is {ctx.age} on {ctx.date.isoformat()}; only a child under 18 can be referred."
    return None


def _weekday_conference(ctx):
    if ctx.date.weekday() >= 5:
        return f"{ctx.date.isoformat()} is a {ctx.date.strftime('%A')}: hold the conference on a weekday."
    return None


def _plan_longer_than_a_day(ctx):
    started = next((h.date for h in reversed(ctx.case.history) if h.accepted and h.event == "cp_plan_started"), None)
    if started is not None and ctx.date <= started:
        return f"The child protection plan started on {started.isoformat()}; it can end only on a later day."
    return None


def _assessment_codes(ctx):
    if ctx.event.reason in ("RC8", "RC9") and ctx.case.state != "assessment":
        return (f"{ctx.event.reason} is for a case closed at the end of its assessment; this case is at "
                f"'{ctx.case.state}': use another code (RC7 if none fits).")
    return None


@hookimpl
def transition_guards():
    return [
        young_person_consents(RULES.young_person_consent),
        Guard(RULES.under_eighteen, {"referral_received", "transfer_in"}, _must_be_a_child),
        Guard(RULES.conference_on_a_weekday, {"cp_plan_started", "icpc_held"}, _weekday_conference),
        Guard(RULES.cp_plan_lasts_a_day, {"cp_plan_ended"}, _plan_longer_than_a_day),
        Guard(RULES.assessment_closure_codes, {"case_closed"}, _assessment_codes),
    ]




@hookimpl
def consent_refusal_routes():
    return [
        ConsentRoute(RULES.consent_refused_harm, "s47_enquiry", HARM_LIKELY),
        ConsentRoute(RULES.consent_refused_accepted, "closed"),
    ]


@hookimpl
def deadline_rules():
    return [
        DeadlineRule(
            "assessment",
            RULES.assessment_timescale,
            opens_on=[on("referral_received")],
            fulfilled_by=[on("assessment_completed"), on("s47_completed")],
            while_in=OPEN_BEFORE_PLAN,
        ),
        DeadlineRule("cp_review", RULES.cp_first_review, opens_on=[on("cp_plan_started")],
                     fulfilled_by=[on("cp_review")], while_in={"child_protection"}),
        DeadlineRule("cp_review", RULES.cp_review_interval, opens_on=[on("cp_review")],
                     fulfilled_by=[on("cp_review")], while_in={"child_protection"}),
    ]
