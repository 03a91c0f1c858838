"""Every Kent rule (seed 000_1fb2c8a7d3e76d05.txt) with a worked date."""

from datetime import date

import pytest

from cinflow import Child

from cinflow_policies.kent import PAPERWORK
from helpers import plan_in_force, refused_by

D = date.fromisoformat


@pytest.fixture
def r(kent, make_runner):
    return make_runner(kent)


def test_initial_meeting_10_working_days_after_assessment(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-06")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    d = r.open("initial_cin_meeting")
    assert (d.due, d.rule) == (D("2026-02-27"), "kent.initial_meeting")
    assert "000_1fb2c8a7d3e76d05.txt" in d.source and "§5" in d.source


def test_initial_meeting_timescale_crosses_easter(r):
    r("referral_received", "2026-02-02")
    r("consent_given", "2026-02-03")
    r("assessment_completed", "2026-03-30", outcome="cin_plan")
    assert r.open("initial_cin_meeting").due == D("2026-04-15")  # Good Friday and Easter Monday skipped
    r("cin_meeting", "2026-04-16", kind="initial", chair="team_manager", outcome="continue")
    assert r.deadlines("initial_cin_meeting")[0].status() == "late"


def test_meeting_after_cp_step_down_within_four_weeks(r):
    r("referral_received", "2026-09-01")
    r("strategy_discussion", "2026-09-01")
    r("s47_completed", "2026-09-20", outcome="icpc")
    r("cp_plan_started", "2026-10-01")
    r("cp_plan_ended", "2026-12-04", outcome="cin_plan")
    d = r.open("initial_cin_meeting")
    assert (d.due, d.rule) == (D("2027-01-01"), "kent.cp_step_down_meeting")  # 4 weeks, no rolling off New Year


def test_cin_plan_made_at_the_conference_also_gets_four_weeks(r):
    r("referral_received", "2026-03-02")
    r("strategy_discussion", "2026-03-02")
    r("s47_completed", "2026-03-16", outcome="icpc")
    r("icpc_held", "2026-03-27", outcome="cin_plan")
    assert r.case.state == "initial_cin"
    assert r.open("initial_cin_meeting").due == D("2026-04-24")


def test_transfer_in_meeting_within_20_working_days(r):
    r("transfer_in", "2026-12-14")
    d = r.open("initial_cin_meeting")
    assert (d.due, d.rule) == (D("2027-01-14"), "kent.transfer_in_meeting")


@pytest.mark.parametrize("chair, accepted", [("team_manager", True), ("senior_practitioner", False), ("social_worker", False)])
def test_team_manager_chairs_the_initial_meeting(r, chair, accepted):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-06")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    before = r.case
    item = r("cin_meeting", "2026-02-25", kind="initial", chair=chair, outcome="continue")
    assert item.accepted is accepted
    if not accepted:
        assert [x.rule for x in item.reasons] == ["kent.initial_chair"]
        assert "Team Manager" in item.reasons[0].message
        assert (r.case.state, r.case.deadlines, r.case.facts) == (before.state, before.deadlines, before.facts)


@pytest.mark.parametrize("chair, accepted", [("team_manager", True), ("senior_practitioner", True), ("social_worker", False), ("iro", False)])
def test_reviews_chaired_by_team_manager_or_senior_practitioner(r, chair, accepted):
    plan_in_force(r)
    item = r("cin_meeting", "2026-04-01", kind="review", chair=chair, outcome="continue")
    assert item.accepted is accepted
    if not accepted:
        assert [x.rule for x in item.reasons] == ["kent.review_chair"]


@pytest.mark.parametrize(
    "nights, settings, iro_needed",
    [(75, 2, False), (76, 0, True), (0, 3, True), (120, 4, True)],
)
def test_iro_chairs_reviews_for_heavy_short_breaks(kent, make_runner, nights, settings, iro_needed):
    child = Child(birth_date=date(2012, 5, 1), disabled=True, short_break_nights=nights, short_break_settings=settings)
    r = plan_in_force(make_runner(kent, child))
    by_manager = r("cin_meeting", "2026-04-01", kind="review", chair="team_manager", outcome="continue")
    if iro_needed:
        assert not by_manager.accepted and [x.rule for x in by_manager.reasons] == ["kent.iro_chair"]
        assert r("cin_meeting", "2026-04-01", kind="review", chair="iro", outcome="continue").accepted
    else:
        assert by_manager.accepted


def test_reviews_at_least_every_12_weeks(r):
    plan_in_force(r, meeting="2026-02-25")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2026-05-20"), "kent.review_interval")
    r("cin_meeting", "2026-05-13", kind="review", chair="team_manager", outcome="continue")
    assert r.deadlines("cin_review")[0].status() == "met"
    assert r.open("cin_review").due == D("2026-08-05")  # counted from the review actually held


def test_meeting_may_agree_an_earlier_review_but_not_a_later_one(r):
    plan_in_force(r, completed="2026-02-04", meeting="2026-02-11")
    r("cin_meeting", "2026-03-04", kind="review", chair="team_manager", outcome="continue", next_review="2026-04-01")
    assert r.open("cin_review").due == D("2026-04-01")
    r("cin_meeting", "2026-04-01", kind="review", chair="team_manager", outcome="continue", next_review="2026-12-01")
    assert r.open("cin_review").due == D("2026-06-24")  # 12 weeks is the maximum


def test_disabled_children_first_review_3_months_then_6_monthly(kent, make_runner):
    r = make_runner(kent, Child(birth_date=date(2015, 3, 3), disabled=True))
    plan_in_force(r, referral="2026-09-07", completed="2026-11-16", meeting="2026-11-30")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2027-02-28"), "kent.disabled_first_review")  # 30 Nov + 3 months, clamped
    r("cin_meeting", "2027-02-26", kind="review", chair="team_manager", outcome="continue")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2027-08-26"), "kent.disabled_review_interval")


def test_visits_at_least_every_4_weeks(r):
    plan_in_force(r, meeting="2026-02-25")
    assert r.open("visit").due == D("2026-03-25")
    r("visit", "2026-03-20", seen_alone=True)
    assert r.open("visit").due == D("2026-04-17")
    visit = r.open("visit")
    assert visit.status(D("2026-04-17")) == "open"  # due that day
    assert visit.status(D("2026-04-18")) == "overdue"
    assert visit in r.case.due(D("2026-04-18"))


def test_minutes_case_note_and_plan_after_a_meeting(r):
    plan_in_force(r, meeting="2026-02-25")
    for name in ("minutes", "case_note", "plan_authorisation"):  # the initial meeting's paperwork
        r(PAPERWORK[name], "2026-03-02")
    r("cin_meeting", "2026-12-17", kind="review", chair="team_manager", outcome="continue")
    assert r.open("minutes").due == D("2027-01-05")  # 10 WD across Christmas, Boxing Day substitute, New Year
    assert r.open("case_note").due == D("2026-12-18")
    assert r.open("plan_authorisation").due == D("2026-12-24")
    r("case_note_recorded", "2026-12-18")
    r("minutes_circulated", "2027-01-06")
    assert r.deadlines("case_note")[-1].status() == "met"
    assert r.deadlines("minutes")[-1].status() == "late"
    assert [d.status() for d in r.deadlines("minutes")] == ["met", "late"]  # the first meeting's stand as they were


def test_each_meetings_paperwork_belongs_to_that_meeting(r):
    """Unsent minutes of one meeting are not cancelled by the next meeting:
    they stay overdue, and the next minutes sent meet the oldest first."""
    plan_in_force(r, meeting="2026-02-25")
    r("cin_meeting", "2026-05-13", kind="review", chair="team_manager", outcome="continue")
    first, second = r.deadlines("minutes")
    assert (first.due, second.due) == (D("2026-03-11"), D("2026-05-28"))  # 10 WD; 25 May is the spring bank holiday
    assert [d.status(D("2026-05-14")) for d in (first, second)] == ["overdue", "open"]
    r("minutes_circulated", "2026-05-20")
    first, second = r.deadlines("minutes")
    assert (first.met_on, first.status(), second.status(D("2026-05-29"))) == (D("2026-05-20"), "late", "overdue")


def test_case_note_one_working_day_over_christmas(r):
    plan_in_force(r, meeting="2026-12-24", referral="2026-10-01", completed="2026-12-15")
    assert r.open("case_note").due == D("2026-12-29")


def test_plan_authorisation_five_working_days_over_spring_bank_holiday(r):
    plan_in_force(r, meeting="2026-05-22", referral="2026-03-02", completed="2026-05-11")
    assert r.open("plan_authorisation").due == D("2026-06-01")


def _stepped_down(r, ended="2026-03-02"):
    r("referral_received", "2025-11-03")
    r("strategy_discussion", "2025-11-03")
    r("s47_completed", "2025-11-14", outcome="icpc")
    r("cp_plan_started", "2025-11-21")
    r("cp_plan_ended", ended, outcome="cin_plan")
    r("cin_meeting", "2026-03-20", kind="initial", chair="team_manager", outcome="continue")


def test_plan_after_cp_step_down_lasts_three_months(r):
    _stepped_down(r)
    r("manager_decision", "2026-05-19", kind="closure_rationale", role="team_manager")
    before = r.case
    item = r("cin_meeting", "2026-05-20", kind="review", chair="team_manager", outcome="close")
    assert not item.accepted
    assert [x.rule for x in item.reasons] == ["kent.cp_step_down_minimum"]
    assert "2026-06-02" in item.reasons[0].message
    assert r.case.state == before.state == "cin_plan"
    refused_close = r("case_closed", "2026-05-21", reason="RC7")
    assert not refused_close.accepted
    assert r("cin_meeting", "2026-06-02", kind="review", chair="team_manager", outcome="close").accepted
    assert r.case.state == "closed"


def test_assistant_directors_view_allows_an_earlier_end(r):
    _stepped_down(r)
    r("manager_decision", "2026-05-19", kind="assistant_director_view", role="assistant_director")
    r("manager_decision", "2026-05-19", kind="closure_rationale", role="team_manager")
    assert r("cin_meeting", "2026-05-20", kind="review", chair="team_manager", outcome="step_down").accepted
    assert r.case.state == "stepped_down"


def test_three_month_minimum_does_not_apply_to_other_plans(r):
    plan_in_force(r, meeting="2026-02-25")
    r("manager_decision", "2026-03-03", kind="closure_rationale", role="team_manager")
    assert r("cin_meeting", "2026-03-04", kind="review", chair="team_manager", outcome="close").accepted


def test_team_manager_records_the_rationale_before_the_final_meeting(r):
    plan_in_force(r)
    item = r("cin_meeting", "2026-04-01", kind="review", chair="team_manager", outcome="step_down")
    assert [x.rule for x in item.reasons] == ["kent.closure_rationale"] and "§7" in item.reasons[0].source
    r("manager_decision", "2026-04-01", kind="closure_rationale", role="senior_practitioner")
    assert not r("cin_meeting", "2026-04-01", kind="review", chair="team_manager", outcome="step_down").accepted
    r("manager_decision", "2026-04-01", kind="closure_rationale", role="team_manager")
    assert r("cin_meeting", "2026-04-01", kind="review", chair="team_manager", outcome="step_down").accepted


def test_initial_meeting_counts_from_completing_the_assessment_not_an_earlier_decision(r):
    """Policy §5: 10 WD from completion; a decision during the assessment
    does not move the clock earlier."""
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-06")
    r("assessment_completed", "2026-02-20", outcome="cin_plan", decided_on="2026-02-13")
    assert r.open("initial_cin_meeting").due == D("2026-03-06")


def test_a_circumstance_ending_is_not_held_to_the_step_down_minimum(r):
    """One builder, one behaviour: an RC1 closure (adoption) six days after
    step-down is not a decision to end the plan, so the minimum does not refuse it."""
    r("referral_received", "2025-11-03")
    r("strategy_discussion", "2025-11-03")
    r("s47_completed", "2025-11-14", outcome="icpc")
    r("cp_plan_started", "2025-11-21")
    r("cp_plan_ended", "2026-03-02", outcome="cin_plan")
    refused_by(r("case_closed", "2026-03-08", reason="RC7"), "kent.cp_step_down_minimum")  # a decision to close
    item = r("case_closed", "2026-03-08", reason="RC1")
    assert item.accepted and r.case.facts.closure_reason == "RC1"


def test_only_the_assistant_director_gives_the_view(r):
    _stepped_down(r)
    r("manager_decision", "2026-05-19", kind="assistant_director_view", role="service_manager")
    r("manager_decision", "2026-05-19", kind="closure_rationale", role="team_manager")
    item = r("cin_meeting", "2026-05-20", kind="review", chair="team_manager", outcome="step_down")
    reason = refused_by(item, "kent.cp_step_down_minimum", "000_1fb2c8a7d3e76d05.txt")
    assert [(m.kind, m.on, m.decision, m.roles) for m in reason.remedies] == [
        ("not_before", D("2026-06-02"), None, ()),
        ("needs_decision", None, "assistant_director_view", ("assistant_director",))]


def test_transfer_in_meeting_by_the_sooner_of_residence_and_notification(r):
    r("transfer_in", "2026-12-18", resident_since="2026-12-14")
    d = r.open("initial_cin_meeting")
    # 20 WD from residence (14 Dec) beats 20 WD from notification (18 Dec -> 20 Jan 2027).
    assert (d.due, d.rule) == (D("2027-01-14"), "kent.transfer_in_residence")


def test_visits_as_often_as_agreed(r):
    plan_in_force(r)
    r("visit", "2026-03-10", next_visit="2026-03-24")
    assert r.open("visit").due == D("2026-03-24")


def test_a_supervision_order_plan_runs_until_the_order_ends(r):
    r("referral_received", "2026-05-01")
    r("strategy_discussion", "2026-05-01")
    r("s47_completed", "2026-05-20", outcome="icpc")
    r("cp_plan_started", "2026-06-01")
    r("supervision_order_made", "2026-08-21", ends_on="2027-08-20")
    r("cin_meeting", "2026-09-03", kind="initial", chair="team_manager", outcome="continue")
    r("manager_decision", "2027-01-13", kind="closure_rationale", role="team_manager")
    item = r("cin_meeting", "2027-01-14", kind="review", chair="team_manager", outcome="close")
    assert [x.rule for x in item.reasons] == ["kent.supervision_order_plan"]
    assert r("cin_meeting", "2027-08-20", kind="review", chair="team_manager", outcome="close").accepted


def test_moving_permanently_abroad_ends_the_plan(r):
    plan_in_force(r)
    assert r("moved_abroad", "2026-04-01").accepted
    assert (r.case.state, r.case.facts.closure_reason) == ("closed", "RC7")


def _moving(r, **attrs):
    plan_in_force(r, referral="2026-03-02", completed="2026-04-13", meeting="2026-04-20")
    return r("move_notified", attrs.pop("on"), **attrs)


def test_planned_move_notify_receiving_authority_within_1_working_day_of_the_move(r):
    _moving(r, on="2026-08-20", planned=True, moved_on="2026-08-28")
    assert r.case.state == "transfer_out"
    assert r.open("transfer_notification").due == D("2026-09-01")  # Mon 31 Aug is the summer bank holiday
    assert r.open("transfer_information").due == D("2026-08-27")
    assert not [d for d in r.case.deadlines if d.name == "case_records"]


def test_unplanned_move_counts_from_learning_of_it_and_needs_records(r):
    _moving(r, on="2026-12-24", planned=False)
    assert r.open("transfer_notification").due == D("2026-12-29")
    assert r.open("transfer_information").due == D("2027-01-05")
    assert r.open("case_records").due == D("2027-01-05")
    assert r.open("case_records").rule == "kent.unplanned_move_records"
    r("receiving_authority_notified", "2026-12-29")
    r("transfer_information_sent", "2027-01-04")
    r("case_records_completed", "2027-01-04")
    r("transfer_completed", "2027-01-20")
    assert r.case.state == "transferred" and r.case.facts.closure_reason == "RC5"
    assert {d.name: d.status() for d in r.case.deadlines if d.name.startswith(("transfer", "case_rec"))} == {
        "transfer_notification": "met", "transfer_information": "met", "case_records": "met"}


def test_transfer_information_five_working_days_over_may_day(r):
    _moving(r, on="2026-05-01", planned=True)
    assert r.open("transfer_information").due == D("2026-05-11")


def test_reviews_and_visits_continue_until_transfer_completes(r):
    _moving(r, on="2026-05-01", planned=True)
    assert r.open("cin_review").is_open and r.open("visit").is_open
    assert r("cin_meeting", "2026-06-01", kind="review", chair="team_manager", outcome="continue").accepted
    r("transfer_completed", "2026-06-10")
    assert all(d.status() != "open" for d in r.case.deadlines if d.name in ("cin_review", "visit"))


def test_a_plan_ends_only_at_a_cin_meeting(r):
    plan_in_force(r)
    item = r("case_closed", "2026-04-01", reason="no longer in need")
    assert not item.accepted and item.reasons[0].rule == "kent.end_at_meeting"
    assert "§2" in item.reasons[0].source and r.case.state == "cin_plan"
    assert r("case_closed", "2026-04-01", reason="RC4").accepted  # a special guardianship order is not a decision to end
