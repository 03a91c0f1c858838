"""Every Berkshire West rule (seed 002_9701fea80e3d08df.txt), for Reading,
West Berkshire and Wokingham, with worked dates."""

from datetime import date

import pytest

from cinflow import Child

from helpers import refused_by as _refused_by, plan_in_force, route_rule

D = date.fromisoformat
COUNCILS = ["reading", "west-berkshire", "wokingham"]


@pytest.fixture(params=COUNCILS)
def r(request, registry, make_runner):
    return make_runner(registry[request.param])




def refused_by(item, rule):
    return _refused_by(item, rule, "002_9701fea80e3d08df.txt")


def after_cp(r, ended="2027-03-19"):
    r("referral_received", "2026-09-01")
    r("strategy_discussion", "2026-09-01")
    r("s47_completed", "2026-09-20", outcome="icpc")
    r("cp_plan_started", "2026-10-01")
    r("cp_plan_ended", ended, outcome="cin_plan")
    return r


def test_the_three_councils_share_one_base_layer(registry):
    for council in COUNCILS:
        assert registry[council].layer_ids == ("england", "berkshire-west", council)


def test_initial_meeting_10_working_days_from_the_decision_across_christmas(r):
    r("referral_received", "2026-11-02")
    r("consent_given", "2026-11-02")
    r("assessment_completed", "2027-01-08", outcome="cin_plan", decided_on="2026-12-18")
    d = r.open("initial_cin_meeting")
    assert (d.due, d.rule) == (D("2027-01-06"), "berkshire-west.initial_meeting")  # already late on completion


def test_initial_meeting_10_working_days_after_cp_step_down_across_easter(r):
    after_cp(r)
    assert r.open("initial_cin_meeting").due == D("2027-04-06")


def test_initial_meeting_after_a_supervision_order_and_the_plan_lasts_as_long_as_it(r):
    r("referral_received", "2026-05-01")
    r("strategy_discussion", "2026-05-01")
    r("s47_completed", "2026-05-20", outcome="icpc")
    r("cp_plan_started", "2026-06-01")
    r("supervision_order_made", "2026-08-21", ends_on="2027-08-20")
    assert r.case.state == "initial_cin"
    assert r.open("initial_cin_meeting").due == D("2026-09-07")  # summer bank holiday 31 Aug skipped
    r("cin_meeting", "2026-09-03", kind="initial", chair="social_worker", outcome="continue")
    d = r.open("visit")
    assert (d.due, d.rule) == (D("2026-09-24"), "berkshire-west.supervision_order_visits")
    refused_by(r("cin_meeting", "2027-01-14", kind="review", chair="social_worker", outcome="close"),
               "berkshire-west.supervision_order")
    assert r("cin_meeting", "2027-08-20", kind="review", chair="social_worker", outcome="close").accepted


@pytest.mark.parametrize("council, first, second, rule", [
    ("reading", "2026-04-08", "2026-05-20", "reading.review_interval"),
    ("wokingham", "2026-04-08", "2026-05-20", "wokingham.review_interval"),
    ("west-berkshire", "2026-05-25", "2026-07-08", "west-berkshire.review_interval"),
])
def test_review_frequency_is_where_the_councils_differ(registry, make_runner, council, first, second, rule):
    r = plan_in_force(make_runner(registry[council]), chair="social_worker")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D(first), rule)
    r("cin_meeting", "2026-04-08", kind="review", chair="social_worker", outcome="continue")
    assert r.open("cin_review").due == D(second)


def test_an_earlier_review_date_agreed_at_the_meeting_wins(r):
    plan_in_force(r, chair="social_worker", next_review="2026-03-25")
    assert r.open("cin_review").due == D("2026-03-25")


def test_short_breaks_plans_are_outside_the_review_cycle_and_visited_six_monthly(registry, make_runner):
    for council in COUNCILS:
        r = make_runner(registry[council], Child(birth_date=date(2014, 6, 12), disabled=True, short_break_nights=20,
                                                 short_breaks_plan=True))
        plan_in_force(r, chair="social_worker")
        assert r.deadlines("cin_review") == []
        d = r.open("visit")
        assert (d.due, d.rule) == (D("2026-08-25"), "berkshire-west.short_breaks_visits")
        # Short-break nights alongside an ordinary CIN plan keep the review cycle and 3-weekly visits.
        r = make_runner(registry[council], Child(birth_date=date(2014, 6, 12), disabled=True, short_break_nights=20))
        plan_in_force(r, chair="social_worker")
        assert r.open("cin_review").rule.startswith(council) and r.open("visit").due == D("2026-03-18")


def test_visits_every_three_weeks_not_rolled_off_easter_monday(r):
    plan_in_force(r, chair="social_worker")
    assert r.open("visit").due == D("2026-03-18")
    r("visit", "2026-03-16")
    d = r.open("visit")
    assert (d.due, d.rule) == (D("2026-04-06"), "berkshire-west.visit_interval")


def test_visit_written_up_within_2_working_days(r):
    plan_in_force(r, chair="social_worker")
    r("visit", "2026-04-02")
    d = r.open("visit_record")
    assert (d.due, d.rule) == (D("2026-04-08"), "berkshire-west.visit_recording")
    r("visit_recorded", "2026-04-07")
    assert r.deadlines("visit_record")[0].status() == "met"


def test_minutes_within_10_working_days_across_christmas(r):
    plan_in_force(r, referral="2026-10-01", completed="2026-12-02", meeting="2026-12-16", chair="social_worker")
    d = r.open("minutes")
    assert (d.due, d.rule) == (D("2027-01-04"), "berkshire-west.minutes")


def test_amended_plan_circulation_has_no_invented_timescale(r, registry):
    plan_in_force(r, chair="social_worker")
    assert r.deadlines("plan_circulation") == []
    from cinflow.catalogue import catalogue

    entry = next(x for x in catalogue(r.policy)["rules"] if x["id"] == "berkshire-west.amended_plan_circulation")
    assert entry["parameters"][0].startswith("no fixed timescale")


def test_single_assessment_updated_every_six_months(r):
    plan_in_force(r, chair="social_worker")  # assessment completed Fri 13 Feb 2026
    d = r.open("assessment_update")
    assert (d.due, d.opened_on) == (D("2026-08-13"), D("2026-02-13"))  # from the assessment, not the meeting
    r("assessment_updated", "2026-08-20")
    assert r.deadlines("assessment_update")[0].status() == "late"
    assert r.open("assessment_update").due == D("2027-02-20")


def test_plan_stays_open_three_months_from_its_start(r):
    plan_in_force(r, chair="social_worker")
    refused_by(r("cin_meeting", "2026-03-25", kind="review", chair="social_worker", outcome="close"),
               "berkshire-west.minimum_plan_length")
    refused_by(r("cin_meeting", "2026-05-22", kind="review", chair="social_worker", outcome="step_down",
                 lead_professional_named=True), "berkshire-west.minimum_plan_length")
    assert r("cin_meeting", "2026-05-25", kind="review", chair="social_worker", outcome="step_down",
             lead_professional_named=True).accepted


def test_a_step_down_names_its_lead_professional_or_says_universal_services(r):
    plan_in_force(r, chair="social_worker")
    refused_by(r("cin_meeting", "2026-05-25", kind="review", chair="social_worker", outcome="step_down"),
               "berkshire-west.step_down_lead_professional")
    # None needed: the child goes on with universal services only.
    assert r("cin_meeting", "2026-05-25", kind="review", chair="social_worker", outcome="step_down",
             lead_professional_named=False).accepted


def test_plan_after_cp_runs_three_months_from_step_down_and_the_atm_decides_its_end(r):
    after_cp(r, ended="2026-11-30")
    r("cin_meeting", "2026-12-10", kind="initial", chair="social_worker", outcome="continue")
    refused_by(r("cin_meeting", "2027-02-26", kind="review", chair="social_worker", outcome="close"),
               "berkshire-west.minimum_plan_length")  # 30 Nov + 3 months = 28 Feb
    refused_by(r("cin_meeting", "2027-03-01", kind="review", chair="social_worker", outcome="close"),
               "berkshire-west.post_cp_plan_ending")
    r("manager_decision", "2027-03-01", kind="end_post_cp_plan", role="assistant_team_manager")
    assert r("cin_meeting", "2027-03-01", kind="review", chair="social_worker", outcome="close").accepted


def test_ending_cp_without_a_cin_plan_needs_the_team_managers_recorded_decision(r):
    r("referral_received", "2026-09-01")
    r("strategy_discussion", "2026-09-01")
    r("s47_completed", "2026-09-20", outcome="icpc")
    r("cp_plan_started", "2026-10-01")
    refused_by(r("cp_plan_ended", "2027-03-19", outcome="closed"), "berkshire-west.no_plan_after_cp")
    r("manager_decision", "2027-03-19", kind="no_cin_plan_after_cp", role="team_manager")
    assert r("cp_plan_ended", "2027-03-19", outcome="closed").accepted


def test_a_post_cp_plan_cannot_be_imposed_without_consent(r):
    after_cp(r)
    r("cin_meeting", "2027-03-25", kind="initial", chair="social_worker", outcome="continue")
    item = r("consent_refused", "2027-04-12")  # within the 3 months: consent still decides
    assert item.accepted and r.case.state == "closed"


@pytest.mark.parametrize("attrs, state", [({"significant_harm_likely": True}, "s47_enquiry"),
                                          ({"early_help": True}, "stepped_down"), ({}, "closed")])
def test_when_the_family_will_not_engage(r, attrs, state):
    plan_in_force(r, chair="social_worker")
    expected = {"s47_enquiry": "consent_refused_harm", "stepped_down": "consent_refused_early_help",
                "closed": "consent_not_imposed"}[state]
    assert route_rule(r.policy, r.case, "2026-03-10", **attrs) == f"berkshire-west.{expected}"
    assert r("consent_refused", "2026-03-10", **attrs).accepted and r.case.state == state


def test_reassessment_is_not_an_outcome_the_guidance_lists(r):
    plan_in_force(r, chair="social_worker")
    refused_by(r("cin_meeting", "2026-04-08", kind="review", chair="social_worker", outcome="reassess"),
               "berkshire-west.review_outcomes")


def test_the_most_appropriate_lead_professional_chairs_with_no_invented_role_list(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    assert r("cin_meeting", "2026-02-25", kind="initial", chair="service_manager", outcome="continue").accepted
    assert r.case.history[-1].reasons == ()
    assert "berkshire-west.chair" not in {g.rule.id for g in r.policy.guards} and not r.policy.chair_rules
