"""Every London borough rule (seed 001_0fbde886a1ba2318.txt) with worked dates."""

from datetime import date

import pytest

from cinflow import Child

from helpers import refused_by as _refused_by, plan_in_force

D = date.fromisoformat
SEED = "001_0fbde886a1ba2318.txt"



def refused_by(item, rule):
    return _refused_by(item, rule, SEED)


@pytest.fixture
def r(registry, make_runner):
    return make_runner(registry["london-borough"])


def in_force(r, **agreed):
    """A plan started at an initial meeting on Wed 25 Feb 2026, chaired by the Practice Lead."""
    agreed = {"review_chair": "social_worker", "next_review": "2026-05-20", **agreed}
    return plan_in_force(r, chair="practice_lead", **agreed)




def test_initial_meeting_15_working_days_from_the_decision_across_easter(r):
    r("referral_received", "2026-02-09")
    r("consent_given", "2026-02-09")
    # Decided on Fri 20 Mar during the assessment: 15 WD skips Good Friday and Easter Monday.
    r("assessment_completed", "2026-03-27", outcome="cin_plan", decided_on="2026-03-20")
    d = r.open("initial_cin_meeting")
    assert (d.due, d.rule) == (D("2026-04-14"), "london-borough.initial_meeting")


def test_initial_meeting_counts_from_completion_when_no_earlier_decision(r):
    r("referral_received", "2026-02-09")
    r("consent_given", "2026-02-09")
    r("assessment_completed", "2026-03-27", outcome="cin_plan")
    assert r.open("initial_cin_meeting").due == D("2026-04-21")


def test_practice_lead_chairs_the_initial_meeting(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    item = r("cin_meeting", "2026-02-25", kind="initial", chair="team_manager", outcome="continue",
             review_chair="social_worker", next_review="2026-05-20")
    refused_by(item, "london-borough.initial_chair")
    assert r.case.state == "initial_cin"


def test_initial_meeting_agrees_the_review_chair_and_reviews_follow_it(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    refused_by(r("cin_meeting", "2026-02-25", kind="initial", chair="practice_lead", outcome="continue",
                 next_review="2026-05-20"), "london-borough.review_chair_agreed")
    assert r("cin_meeting", "2026-02-25", kind="initial", chair="practice_lead", outcome="continue",
             next_review="2026-05-20", review_chair="social_worker").accepted
    reason = refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="practice_lead", outcome="continue",
                          next_review="2026-08-12"), "london-borough.review_chair_agreed")
    assert "a Social Worker" in reason.message
    refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="team_manager", outcome="continue",
                 next_review="2026-08-12"), "london-borough.review_chair_agreed")
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="continue",
             next_review="2026-08-12").accepted


def test_first_review_three_months_after_the_initial_meeting_not_rolled_off_a_bank_holiday(r):
    in_force(r, next_review="2026-06-30")  # a later agreed date does not loosen the 3 months
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2026-05-25"), "london-borough.first_review")  # Spring bank holiday, not rolled


def test_reviews_then_every_three_months_or_the_sooner_agreed_date(r):
    in_force(r)
    assert r.open("cin_review").due == D("2026-05-20")  # agreed at the initial meeting, sooner than 25 May
    r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="continue", next_review="2026-09-30")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2026-08-20"), "london-borough.review_interval")


def test_three_months_clamps_to_the_end_of_february(r):
    plan_in_force(r, referral="2026-10-01", completed="2026-11-20", meeting="2026-11-30", chair="practice_lead",
                  review_chair="social_worker", next_review="2027-03-31")
    assert r.open("cin_review").due == D("2027-02-28")


def test_a_meeting_without_the_next_date_is_advised_and_the_maximum_applies(r):
    """Setting the next date is record-keeping with a fallback: the meeting is
    accepted, carries advice, and the review falls due at the 3-month maximum."""
    in_force(r)
    item = r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="continue")
    assert item.accepted and [a.rule for a in item.advice] == ["london-borough.next_meeting_date"]
    assert item.advice[0].source.startswith("001_0fbde886a1ba2318.txt")
    assert r.open("cin_review").due == D("2026-08-20")


def test_practice_lead_exception_allows_up_to_six_months(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    r("manager_decision", "2026-02-25", kind="review_frequency_exception", role="practice_lead")
    r("cin_meeting", "2026-02-25", kind="initial", chair="practice_lead", outcome="continue",
      review_chair="social_worker", next_review="2026-07-15")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2026-07-15"), "london-borough.review_exception")
    r("cin_meeting", "2026-07-15", kind="review", chair="social_worker", outcome="continue", next_review="2027-03-01")
    assert r.open("cin_review").due == D("2027-01-15")  # never beyond 6 months


def test_an_exception_agreed_by_someone_else_does_not_count(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    r("manager_decision", "2026-02-25", kind="review_frequency_exception", role="team_manager")
    r("cin_meeting", "2026-02-25", kind="initial", chair="practice_lead", outcome="continue",
      review_chair="social_worker", next_review="2026-07-15")
    assert r.open("cin_review").rule == "london-borough.first_review"


def test_disabled_child_reviewed_six_monthly_unless_sooner_agreed(registry, make_runner):
    r = make_runner(registry["london-borough"], Child(birth_date=date(2014, 6, 12), disabled=True))
    in_force(r, next_review="2026-09-30")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2026-08-25"), "london-borough.disabled_review_interval")
    r("cin_meeting", "2026-08-20", kind="review", chair="social_worker", outcome="continue", next_review="2026-11-02")
    assert r.open("cin_review").due == D("2026-11-02")


def test_invitations_three_weeks_before_the_next_meeting(r):
    in_force(r, next_review="2026-05-20")
    d = r.open("invitations")
    assert (d.due, d.rule) == (D("2026-04-29"), "london-borough.invitations")
    r("invitations_sent", "2026-04-28", meeting_on="2026-05-20")
    assert r.deadlines("invitations")[0].status() == "met"


def test_visits_every_20_working_days_across_christmas(r):
    plan_in_force(r, referral="2026-10-01", completed="2026-11-27", meeting="2026-12-09", chair="practice_lead",
                  review_chair="social_worker", next_review="2027-02-10")
    d = r.open("visit")
    assert (d.due, d.rule) == (D("2027-01-11"), "london-borough.visit_interval")  # 25, 28 Dec and 1 Jan skipped
    item = r("visit", "2027-01-05", next_visit="2027-01-07")  # the child was not seen alone
    assert item.accepted and r.open("visit").due == D("2027-01-11")  # so it does not count as the visit
    r("visit", "2027-01-06", seen_alone=True, next_visit="2027-01-20")  # the plan asks for a sooner visit
    assert r.open("visit").due == D("2027-01-20")


def test_plan_updated_in_2_circulated_in_5_and_recorded_in_2_working_days(r):
    in_force(r)
    for name in ("plan_updated", "plan_circulated", "meeting_recorded"):  # the initial meeting's, on time
        r(name, "2026-02-27")
    r("cin_meeting", "2026-04-02", kind="review", chair="social_worker", outcome="continue", next_review="2026-06-25")
    due = {d.name: d.due for d in r.case.deadlines if d.is_open and d.opened_on == D("2026-04-02")}
    assert due["plan_update"] == D("2026-04-08")  # over Good Friday and Easter Monday
    assert due["meeting_record"] == D("2026-04-08")
    assert due["plan_circulation"] == D("2026-04-13")
    assert {d.name: d.rule for d in r.case.deadlines if d.is_open}["meeting_record"] == "london-borough.meeting_recording"
    r("plan_updated", "2026-04-08")
    r("meeting_recorded", "2026-04-09")
    r("plan_circulated", "2026-04-10")
    status = {d.name: d.status() for d in r.case.deadlines if d.opened_on == D("2026-04-02")}
    assert status["plan_update"] == "met" and status["meeting_record"] == "late" and status["plan_circulation"] == "met"


def test_service_manager_reviews_at_nine_months(r):
    in_force(r)
    d = r.open("service_manager_review")
    assert (d.due, d.rule) == (D("2026-11-25"), "london-borough.nine_month_review")
    r("manager_decision", "2026-11-20", kind="nine_month_review", role="team_manager")
    assert r.open("service_manager_review").is_open  # not the Service Manager
    r("manager_decision", "2026-11-24", kind="nine_month_review", role="service_manager")
    assert r.deadlines("service_manager_review")[0].met_on == D("2026-11-24")


def test_continuing_past_twelve_months_needs_the_service_manager(r):
    in_force(r)
    assert r("cin_meeting", "2027-02-24", kind="review", chair="social_worker", outcome="continue",
             next_review="2027-05-20").accepted  # the day before the anniversary
    refused_by(r("cin_meeting", "2027-02-25", kind="review", chair="social_worker", outcome="continue",
                 next_review="2027-05-20"), "london-borough.twelve_month_limit")
    r("manager_decision", "2027-03-01", kind="continue_beyond_12_months", role="service_manager")
    # The next review is the specific one, chaired by the Practice Lead.
    refused_by(r("cin_meeting", "2027-03-03", kind="review", chair="social_worker", outcome="continue",
                 next_review="2027-05-20"), "london-borough.extension_review_chair")
    assert r("cin_meeting", "2027-03-03", kind="review", chair="practice_lead", outcome="continue",
             next_review="2027-05-20").accepted
    # After it, the agreed chair takes over again.
    assert r("cin_meeting", "2027-05-20", kind="review", chair="social_worker", outcome="continue",
             next_review="2027-08-12").accepted


def test_long_term_support_is_the_exception_to_twelve_months(r):
    in_force(r)
    r("manager_decision", "2026-03-02", kind="long_term_support", role="practice_lead")
    assert r("cin_meeting", "2027-03-03", kind="review", chair="social_worker", outcome="continue",
             next_review="2027-05-20").accepted


def test_ending_the_plan_needs_both_the_practice_lead_and_the_service_manager(r):
    in_force(r)
    reason = refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="close"),
                        "london-borough.conclusion_agreed")
    # Remedies are alternatives: a decision by each of the two, or an exception (a should).
    assert [(m.kind, m.decision, m.roles, m.each) for m in reason.remedies] == [
        ("needs_decision", "conclude_plan", ("service_manager", "practice_lead"), True),
        ("needs_exception", None, ("team_manager", "practice_lead", "senior_practice_lead", "service_manager", "assistant_director"), False)]
    r("manager_decision", "2026-05-20", kind="conclude_plan", role="service_manager")
    reason = refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="close"),
                        "london-borough.conclusion_agreed")  # the Practice Lead is not yet part of it
    assert [(m.kind, m.roles, m.each) for m in reason.remedies][0] == ("needs_decision", ("practice_lead",), False)
    r("manager_decision", "2026-05-20", kind="conclude_plan", role="practice_lead")
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="close").accepted
    assert r.case.state == "closed"


def test_invitations_go_out_3_to_4_weeks_before_the_meeting(r):
    in_force(r)  # next review agreed for Wed 20 May 2026: invitations due by 29 Apr, not before 22 Apr
    assert r.open("invitations").due == D("2026-04-29")
    reason = refused_by(r("invitations_sent", "2026-04-21"), "london-borough.invitation_window")
    assert [(m.kind, m.on) for m in reason.remedies] == [("not_before", D("2026-04-22"))]
    assert r("invitations_sent", "2026-04-22").accepted and r.deadlines("invitations")[0].status() == "met"


def test_step_down_names_a_lead_professional(r):
    in_force(r)
    r("manager_decision", "2026-05-18", kind="conclude_plan", role="practice_lead")
    r("manager_decision", "2026-05-18", kind="conclude_plan", role="service_manager")
    refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="step_down"),
               "london-borough.step_down_lead_professional")
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="step_down",
             lead_professional_named=True).accepted
    assert r.case.state == "stepped_down"


def test_reassessment_is_a_recognised_outcome(r):
    from cinflow.vocabulary import MEETING_OUTCOMES

    outcomes = next(g.rule for g in r.policy.guards if g.rule.id == "london-borough.review_outcomes").params["outcomes"]
    assert set(outcomes) == set(MEETING_OUTCOMES)  # the seed's four, its first split into close and step_down
    in_force(r)
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="reassess",
             next_review="2026-08-12").accepted
    assert r.case.state == "cin_plan"


@pytest.mark.parametrize("attrs, state, rule", [
    ({"significant_harm_likely": True}, "s47_enquiry", "consent_refused_harm"),
    ({"early_help": True}, "stepped_down", "consent_refused_targeted"),
    ({}, "closed", "consent_refused_single_agency"),
])
def test_refused_consent_routes(r, attrs, state, rule):
    r("referral_received", "2026-01-05")
    assert r("consent_refused", "2026-01-07", **attrs).accepted
    assert r.case.state == state
    routes = {route.rule.id: route.dest for route in r.policy.consent_routes}
    assert routes[f"london-borough.{rule}"] == state


def test_consent_withdrawn_during_the_plan_closes_it(r):
    in_force(r)
    assert r("consent_refused", "2026-03-20").accepted and r.case.state == "closed"
    assert all(not d.is_open for d in r.deadlines("cin_review"))


def test_transfer_in_meeting_within_20_working_days_of_residence(r):
    r("transfer_in", "2026-12-18", resident_since="2026-12-14")
    d = r.open("initial_cin_meeting")
    assert (d.due, d.rule) == (D("2027-01-14"), "london-borough.transfer_in_meeting")


def test_transfer_out_needs_notification_and_information_first(r):
    in_force(r)
    r("move_notified", "2026-04-01", planned=True, moved_on="2026-04-10")
    reason = refused_by(r("transfer_completed", "2026-04-10"), "london-borough.transfer_out_handover")
    assert "receiving_authority_notified" in reason.message
    r("receiving_authority_notified", "2026-04-13")
    r("transfer_information_sent", "2026-04-14")
    assert r("transfer_completed", "2026-04-20").accepted and r.case.state == "transferred"
