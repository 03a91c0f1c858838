"""The national baseline (``england``), alone and under Kent."""

from datetime import date

import pytest

from cinflow import Child

from helpers import plan_in_force, refused_by, route_rule

D = date.fromisoformat


@pytest.fixture(params=["england", "kent"])
def r(request, registry, make_runner):
    return make_runner(registry[request.param])


def test_assessment_within_45_working_days_of_referral(r):
    r("referral_received", "2026-01-05")
    d = r.open("assessment")
    assert (d.due, d.rule) == (D("2026-03-09"), "england.assessment_timescale")
    r("consent_given", "2026-01-06")
    r("assessment_completed", "2026-03-10", outcome="no_further_action")
    assert r.deadlines("assessment")[0].status() == "late"
    assert (r.case.state, r.case.facts.closure_reason) == ("closed", "RC8")


def test_assessment_under_s47_fulfils_the_assessment_deadline(r):
    r("referral_received", "2026-01-05")
    r("strategy_discussion", "2026-01-07")
    r("s47_completed", "2026-01-20", outcome="no_further_action")
    assert r.deadlines("assessment")[0].met_on == D("2026-01-20")


def test_early_help_after_assessment_steps_down_rc9(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-06")
    r("assessment_completed", "2026-01-30", outcome="early_help")
    assert (r.case.state, r.case.facts.closure_reason) == ("stepped_down", "RC9")


@pytest.mark.parametrize("harm, state", [(True, "s47_enquiry"), (False, "closed")])
def test_consent_refused_routes(r, harm, state):
    r("referral_received", "2026-01-05")
    rule = route_rule(r.policy, r.case, "2026-01-07", significant_harm_likely=harm)
    assert rule == ("england.consent_refused_harm" if harm else "england.consent_refused_accepted")
    item = r("consent_refused", "2026-01-07", significant_harm_likely=harm)
    assert item.accepted and r.case.state == state
    if state == "closed":
        assert r.deadlines("assessment")[0].status() == "cancelled"
    else:
        assert r.open("assessment").is_open  # the assessment goes on, under s47


def test_young_person_of_16_must_consent_too(registry, make_runner):
    r = make_runner(registry["kent"], Child(birth_date=date(2010, 1, 6)))
    r("referral_received", "2026-01-05")  # 15 that day
    r("referral_received", "2026-01-05")  # refused: not from 'referral'
    assert r.case.last.reasons[0].rule == "lifecycle.not_from_state"
    item = r("consent_given", "2026-01-06")  # 16th birthday
    assert not item.accepted and item.reasons[0].rule == "england.young_person_consent"
    assert r.case.state == "referral"
    assert r("consent_given", "2026-01-06", young_person_consent=True).accepted


def test_a_young_persons_consent_is_asked_nationally_and_required_in_wirral(registry, make_runner):
    """Kent Policy §3 asks a 16-year-old for consent (should: an authorised
    exception lets the assessment start without it); Wirral 2.1 requires it
    (must: no exception opens it)."""
    kent = make_runner(registry["kent"], Child(birth_date=date(2010, 1, 6)))
    kent("referral_received", "2026-01-05")
    reason = refused_by(kent("consent_given", "2026-01-06"), "england.young_person_consent", "000_1fb2c8a7d3e76d05.txt")
    assert reason.remedies[-1].kind == "needs_exception"
    assert not kent("manager_decision", "2026-01-06", kind="exception", rule="england.young_person_consent",
                    role="senior_practitioner", reason="parents agree; young person unreachable").accepted
    assert kent("manager_decision", "2026-01-06", kind="exception", rule="england.young_person_consent",
                role="team_manager", reason="parents agree; young person unreachable").accepted
    item = kent("consent_given", "2026-01-07")
    assert item.accepted and [(e.rule, e.role) for e in item.exceptions] == [("england.young_person_consent", "team_manager")]
    assert kent.case.facts.exceptions == ()  # used once

    wirral = make_runner(registry["wirral"], Child(birth_date=date(2010, 1, 6)))
    wirral("referral_received", "2026-01-05")
    wirral("manager_decision", "2026-01-06", kind="exception", rule="england.young_person_consent",
           role="team_manager", reason="parents agree")
    item = wirral("consent_given", "2026-01-06")
    assert [x.rule for x in item.reasons] == ["wirral.young_person_consent"]
    # A must: only the young person's consent opens it, no exception.
    assert [(m.kind, m.attribute, m.values) for m in item.reasons[0].remedies] == [
        ("one_of", "young_person_consent", ("true",))]
    refused = wirral("manager_decision", "2026-01-06", kind="exception", rule="wirral.young_person_consent",
                     role="assistant_director", reason="x")
    assert refused.reasons[0].rule == "lifecycle.exception" and "'must' rule" in refused.reasons[0].message


def test_fifteen_year_old_needs_only_parental_consent(registry, make_runner):
    r = make_runner(registry["kent"], Child(birth_date=date(2010, 1, 7)))
    r("referral_received", "2026-01-05")
    assert r("consent_given", "2026-01-06").accepted


def test_strategy_discussion_from_any_open_state_cancels_the_plan_cycle(r):
    plan_in_force(r)
    assert r("strategy_discussion", "2026-03-10").accepted
    assert r.case.state == "s47_enquiry"
    assert not [d for d in r.case.deadlines if d.name in ("cin_review", "visit") and d.is_open]


def test_eighteenth_birthday_closes_the_case_automatically(registry, make_runner):
    policy = registry["kent"]
    r = make_runner(policy, Child(birth_date=date(2008, 2, 29)))
    plan_in_force(r, referral="2025-10-01", completed="2025-11-14", meeting="2025-11-26")
    item = r("visit", "2026-03-01")
    auto = r.case.history[-2]
    assert (auto.event, auto.date, auto.automatic, auto.to_state) == ("eighteenth_birthday", D("2026-03-01"), True, "closed")
    assert not item.accepted  # the visit is on the 18th birthday: the case has ended
    assert r.case.facts.closure_reason == "RC7"
    assert all(not d.is_open for d in r.case.deadlines if d.name in ("cin_review", "visit"))


def test_time_passing_alone_closes_at_eighteen(registry, make_runner):
    policy = registry["kent"]
    r = make_runner(policy, Child(birth_date=date(2008, 7, 1)))
    plan_in_force(r, referral="2026-01-05", completed="2026-02-13", meeting="2026-02-25")
    assert policy.advance(r.case, D("2026-06-30")).state == "cin_plan"
    later = policy.advance(r.case, D("2026-07-01"))
    assert later.state == "closed" and later.last.automatic


def test_an_adult_cannot_be_referred(r):
    r.case = r.policy.new_case("A", Child(birth_date=date(2007, 1, 1)))
    item = r("referral_received", "2026-01-05")
    assert not item.accepted and item.reasons[0].rule == "england.under_eighteen"


@pytest.mark.parametrize(
    "event, attrs, state, code",
    [("child_died", {}, "closed", "RC2"), ("became_looked_after", {}, "looked_after", None),
     ("case_closed", {"reason": "RC3"}, "closed", "RC3"), ("case_closed", {"reason": "RC6"}, "closed", "RC6")],
)
def test_ends_of_a_plan(r, event, attrs, state, code):
    plan_in_force(r)
    assert r(event, "2026-03-10", **attrs).accepted
    assert (r.case.state, r.case.facts.closure_reason) == (state, code)
    assert not r("visit", "2026-03-11").accepted  # nothing happens after the end


def test_closing_for_a_reason_in_words_records_rc7(r):
    r("referral_received", "2026-01-05")
    assert r("case_closed", "2026-01-09", reason="family moved abroad").accepted
    assert (r.case.state, r.case.facts.closure_reason) == ("closed", "RC7")


def test_cp_plan_path(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-01-20", outcome="s47")
    assert r.case.state == "s47_enquiry"
    r("s47_completed", "2026-01-30", outcome="icpc")
    r("cp_plan_started", "2026-02-10")
    assert r.case.state == "child_protection"
    r("cp_plan_ended", "2026-08-10", outcome="closed")
    assert r.case.state == "closed"


def _to_conference(r):
    r("referral_received", "2026-09-01")
    r("strategy_discussion", "2026-09-01")
    r("s47_completed", "2026-09-18", outcome="icpc")


def test_no_conference_at_a_weekend(r):
    _to_conference(r)
    item = r("cp_plan_started", "2026-10-03")  # a Saturday
    assert not item.accepted and item.reasons[0].rule == "england.conference_on_a_weekday"
    assert "Saturday" in item.reasons[0].message and "8875" in item.reasons[0].source
    assert not r("icpc_held", "2026-10-04", outcome="cin_plan").accepted  # Sunday
    assert r("cp_plan_started", "2026-10-05").accepted  # Monday


def test_a_cp_plan_does_not_end_the_day_it_starts(r):
    _to_conference(r)
    r("cp_plan_started", "2026-09-21")
    item = r("cp_plan_ended", "2026-09-21", outcome="closed")
    assert not item.accepted and item.reasons[0].rule == "england.cp_plan_lasts_a_day"
    assert r("cp_plan_ended", "2026-09-22", outcome="closed").accepted


def test_s47_with_no_further_action_closes_rc7_not_rc8(r):
    r("referral_received", "2026-01-05")
    r("strategy_discussion", "2026-01-07")
    r("s47_completed", "2026-01-20", outcome="no_further_action")
    assert r.case.facts.closure_reason == "RC7"  # census rule 2990: RC8/RC9 only for episodes without an s47


def test_paperwork_after_closure_keeps_the_closure(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-06")
    r("assessment_completed", "2026-01-30", outcome="no_further_action")
    assert r("minutes_circulated", "2026-02-10").accepted
    assert (r.case.facts.closed_on, r.case.facts.closure_reason) == (D("2026-01-30"), "RC8")


def test_rc8_and_rc9_only_close_an_assessment(r):
    r("referral_received", "2026-01-05")
    r("strategy_discussion", "2026-01-06")
    item = r("case_closed", "2026-01-20", reason="RC8")
    assert not item.accepted and item.reasons[0].rule == "england.assessment_closure_codes"
    r2 = type(r)(r.policy)
    r2("referral_received", "2026-01-05")
    r2("consent_given", "2026-01-06")
    assert r2("case_closed", "2026-01-20", reason="RC9").accepted and r2.case.facts.closure_reason == "RC9"


def test_cp_reviews_within_3_months_then_every_6(r):
    _to_conference(r)
    r("cp_plan_started", "2026-11-30")
    d = r.open("cp_review")
    assert (d.due, d.rule) == (D("2027-02-28"), "england.cp_first_review")  # 3 months, clamped to February's end
    r("cp_review", "2027-02-26")
    d = r.open("cp_review")
    assert (d.due, d.rule) == (D("2027-08-26"), "england.cp_review_interval")
    r("cp_plan_ended", "2027-03-15", outcome="closed")
    assert r.deadlines("cp_review")[-1].status() == "cancelled"
