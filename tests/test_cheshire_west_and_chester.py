"""Every Cheshire West and Chester rule (seed 003_0d7b761400208154.txt, 2012)
with worked dates."""

from datetime import date

import pytest

from cinflow.catalogue import catalogue

from helpers import refused_by as _refused_by, plan_in_force

D = date.fromisoformat
SEED = "003_0d7b761400208154.txt"



def refused_by(item, rule):
    return _refused_by(item, rule, SEED)


@pytest.fixture
def r(registry, make_runner):
    return make_runner(registry["cheshire-west-and-chester"])




def in_force(r, **kw):
    return plan_in_force(r, chair="social_worker", **{"next_review": "2026-06-30", **kw})


def test_the_policy_records_that_its_document_is_from_2012(r):
    info = catalogue(r.policy)["policy"]
    assert info["document_date"] == "2012-03-01" and "2012" in info["document_title"]


def test_no_timescale_for_the_planning_meeting_is_invented(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    assert r.deadlines("initial_cin_meeting") == []
    entry = next(x for x in catalogue(r.policy)["rules"] if x["id"] == "cheshire-west-and-chester.initial_meeting")
    assert entry["parameters"][0].startswith("no fixed timescale")


def test_who_may_chair(r):
    """Planning meetings and reviews name different chairs, and "another
    senior member of staff" is wider than one role; practitioners and
    partner agencies do not chair."""
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    reason = refused_by(r("cin_meeting", "2026-02-25", kind="initial", chair="senior_practitioner", outcome="continue",
                          next_review="2026-05-01"), "cheshire-west-and-chester.initial_chair")
    assert reason.remedies[0].kind == "needs_chair" and "senior_practice_lead" in reason.remedies[0].roles
    assert r("cin_meeting", "2026-02-25", kind="initial", chair="team_manager", outcome="continue",
             next_review="2026-05-01").accepted
    refused_by(r("cin_meeting", "2026-05-01", kind="review", chair="agency_professional", outcome="continue",
                 next_review="2026-08-01"), "cheshire-west-and-chester.review_chair")
    assert r("cin_meeting", "2026-05-01", kind="review", chair="senior_practice_lead", outcome="continue",
             next_review="2026-08-01").accepted
    initial, review = (next(c for c in r.policy.chair_rules if k in c.kinds) for k in ("initial", "review"))
    assert initial.rule.citation.section != review.rule.citation.section


def test_review_at_three_months_clamped_then_six_monthly(r):
    plan_in_force(r, referral="2026-10-01", completed="2026-11-20", meeting="2026-11-30", chair="social_worker",
                  next_review="2027-04-30")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2027-02-28"), "cheshire-west-and-chester.first_review")
    r("cin_meeting", "2027-02-26", kind="review", chair="social_worker", outcome="continue", next_review="2027-12-01")
    d = r.open("cin_review")
    assert (d.due, d.rule) == (D("2027-08-26"), "cheshire-west-and-chester.review_interval")


def test_the_date_set_at_the_meeting_is_used_when_sooner(r):
    in_force(r, next_review="2026-04-15")
    assert r.open("cin_review").due == D("2026-04-15")


def test_every_meeting_sets_the_next_review_date(r):
    in_force(r)
    refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="continue"),
               "cheshire-west-and-chester.next_review_date")


def test_no_closure_without_a_completed_review(r):
    r("referral_received", "2026-01-05")
    r("consent_given", "2026-01-05")
    r("assessment_completed", "2026-02-13", outcome="cin_plan")
    refused_by(r("cin_meeting", "2026-02-25", kind="initial", chair="social_worker", outcome="close"),
               "cheshire-west-and-chester.closure_needs_review")
    r("cin_meeting", "2026-02-25", kind="initial", chair="social_worker", outcome="continue", next_review="2026-05-20")
    refused_by(r("case_closed", "2026-04-01", reason="no longer in need"), "cheshire-west-and-chester.closure_needs_review")
    assert r.case.state == "cin_plan"
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="close").accepted


def test_converting_to_caf_appoints_a_lead_professional(r):
    in_force(r)
    refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="step_down"),
               "cheshire-west-and-chester.caf_lead_professional")
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="step_down",
             lead_professional_named=True).accepted
    assert r.case.state == "stepped_down"


def test_safeguarding_outcome_continues_until_the_strategy_discussion(r):
    in_force(r)
    assert r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="escalate",
             next_review="2026-06-20").accepted
    assert r("strategy_discussion", "2026-05-21").accepted and r.case.state == "s47_enquiry"


def test_reassessment_is_not_a_listed_outcome(r):
    in_force(r)
    refused_by(r("cin_meeting", "2026-05-20", kind="review", chair="social_worker", outcome="reassess",
                 next_review="2026-08-20"), "cheshire-west-and-chester.review_outcomes")


def test_plan_copies_within_10_working_days_across_easter_2027(r):
    plan_in_force(r, referral="2027-01-04", completed="2027-03-12", meeting="2027-03-24", chair="social_worker",
                  next_review="2027-06-01")
    d = r.open("plan_circulation")
    assert (d.due, d.rule) == (D("2027-04-09"), "cheshire-west-and-chester.plan_copies")
    r("plan_circulated", "2027-04-09")
    r("cin_meeting", "2027-06-01", kind="review", chair="social_worker", outcome="continue", next_review="2027-09-01")
    assert r.open("plan_circulation").rule == "cheshire-west-and-chester.review_copies"
