"""Every Wirral rule (seed 004_d34424156da75e59.txt) with worked dates."""

from datetime import date

import pytest

from helpers import refused_by as _refused_by, plan_in_force, route_rule

D = date.fromisoformat
SEED = "004_d34424156da75e59.txt"



def refused_by(item, rule):
    return _refused_by(item, rule, SEED)


@pytest.fixture
def r(registry, make_runner):
    return make_runner(registry["wirral"])




def in_force(r, **kw):
    return plan_in_force(r, chair="social_worker", **{"next_review": "2026-04-22", **kw})


def test_planning_meeting_15_working_days_over_christmas_and_a_new_year_substitute_day(r):
    r("referral_received", "2027-11-01")
    r("consent_given", "2027-11-01")
    r("assessment_completed", "2027-12-17", outcome="cin_plan", decided_on="2027-12-10")
    d = r.open("initial_cin_meeting")
    # 27 and 28 Dec 2027 are Christmas substitutes; Mon 3 Jan 2028 stands in for Sat 1 Jan.
    assert (d.due, d.rule) == (D("2028-01-05"), "wirral.planning_meeting")


def test_the_social_worker_chairs_or_another_professional_rather_than_cancel(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    reason = refused_by(r("cin_meeting", "2026-02-25", kind="initial", chair="agency_professional", outcome="continue",
                          next_review="2026-04-22"), "wirral.chair")
    assert [(m.kind, m.roles) for m in reason.remedies] == [("needs_chair", ("social_worker",))]  # a must: no exception
    # When the social worker cannot chair, another professional (a Team Manager too) chairs rather than cancel.
    assert r("cin_meeting", "2026-02-25", kind="initial", chair="team_manager", outcome="continue",
             next_review="2026-04-22", usual_chair_unavailable=True).accepted


def test_review_deadline_is_the_date_each_meeting_sets(r):
    in_force(r, next_review="2026-04-22")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2026-04-22"), "wirral.review_frequency")
    refused_by(r("cin_meeting", "2026-04-22", kind="review", chair="social_worker", outcome="continue"),
               "wirral.next_review_date")
    r("cin_meeting", "2026-04-22", kind="review", chair="social_worker", outcome="continue", next_review="2026-09-30")
    assert r.open("cin_review").due == D("2026-09-30")  # no fixed frequency to cap it


def test_minutes_in_14_days_and_the_plan_by_the_sooner_of_14_days_and_10_working_days(r):
    plan_in_force(r, referral="2026-10-01", completed="2026-12-11", meeting="2026-12-23", chair="social_worker",
                  next_review="2027-03-01")
    assert r.open("minutes").due == D("2027-01-06")
    d = r.open("plan_circulation")
    assert (d.due, d.rule) == (D("2027-01-06"), "wirral.plan_and_minutes_circulation")  # 10 WD would be 11 Jan


def test_visits_every_20_working_days_with_the_child_seen_alone(r):
    in_force(r)
    assert r.open("visit").due == D("2026-03-25")
    r("visit", "2026-03-10", seen_alone=False)
    assert r.open("visit").due == D("2026-03-25")  # not seen alone: the deadline still stands
    r("visit", "2026-03-20", seen_alone=True)
    d = r.open("visit")
    assert (d.due, d.rule) == (D("2026-04-21"), "wirral.visit_interval")  # over Easter 2026


def test_withheld_consent_needs_a_reflective_case_discussion(r):
    in_force(r)
    refused_by(r("consent_refused", "2026-03-10"), "wirral.withheld_consent_discussion")
    r("manager_decision", "2026-03-12", kind="reflective_case_discussion", role="team_manager")
    assert route_rule(r.policy, r.case, "2026-03-12") == "wirral.withheld_consent_accepted"
    assert r("consent_refused", "2026-03-12").accepted and r.case.state == "closed"


def test_withheld_consent_with_significant_impairment_goes_to_s47(r):
    in_force(r)
    r("manager_decision", "2026-03-12", kind="reflective_case_discussion", role="team_manager")
    assert route_rule(r.policy, r.case, "2026-03-12", significant_harm_likely=True) == "wirral.withheld_consent_harm"
    assert r("consent_refused", "2026-03-12", significant_harm_likely=True).accepted
    assert r.case.state == "s47_enquiry"


def test_a_suitable_alternative_is_accepted_without_the_discussion(r):
    in_force(r)
    assert r("consent_refused", "2026-03-10", alternative_support=True).accepted and r.case.state == "closed"


def test_step_down_to_taf_after_the_line_manager_and_completed_in_5_working_days(r):
    in_force(r)
    refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="step_down",
                 lead_professional_named=True), "wirral.step_down_to_taf")
    r("manager_decision", "2026-05-20", kind="step_down_discussed", role="team_manager")
    refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="step_down"),
               "wirral.taf_lead_professional")
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="step_down",
             lead_professional_named=True).accepted
    d = r.open("step_down")
    assert (d.due, d.rule) == (D("2026-05-28"), "wirral.step_down_completion")  # Spring bank holiday skipped
    assert r("step_down_completed", "2026-05-27").accepted
    assert r.deadlines("step_down")[0].status() == "met" and r.case.state == "stepped_down"
