"""Example Shire's own tests: conformance, and a worked date for each rule."""

from datetime import date

import pytest

import cinflow
from cinflow.conformance import check_policy

D = date.fromisoformat
REGISTRY = cinflow.Registry.load()


@pytest.fixture
def shire():
    return REGISTRY["example-shire"]


def apply(policy, case, name, day, **attrs):
    return policy.apply(case, cinflow.event(name, day, **attrs))


def in_force(policy, completed="2027-03-24", meeting="2027-04-08", born="2023-05-02"):
    case = policy.new_case("ES-T", cinflow.Child(birth_date=D(born)))
    for name, day, attrs in [("referral_received", "2027-02-01", {}), ("consent_given", "2027-02-02", {}),
                             ("assessment_completed", completed, {"outcome": "cin_plan"}),
                             ("cin_meeting", meeting, {"kind": "initial", "chair": "team_manager", "outcome": "continue"})]:
        case = apply(policy, case, name, day, **attrs)
    return case


def open_due(case, name):
    return next(d for d in case.deadlines if d.name == name and d.is_open)


def test_conforms():
    assert check_policy(REGISTRY, "example-shire") == []


def test_initial_meeting_10_then_8_working_days(shire):
    case = in_force(shire, completed="2027-03-24", meeting="2027-03-25")
    # Before 1 April 2027: 10 WD from Wed 24 Mar 2027 skips Good Friday and Easter Monday.
    assert [d.due for d in case.deadlines if d.name == "initial_cin_meeting"] == [D("2027-04-09")]
    case = in_force(shire, completed="2027-04-01", meeting="2027-04-02")
    assert [d.due for d in case.deadlines if d.name == "initial_cin_meeting"] == [D("2027-04-13")]


def test_chairs(shire):
    case = in_force(shire)
    case = apply(shire, case, "cin_meeting", "2027-05-06", kind="review", chair="social_worker", outcome="continue")
    assert case.last.reasons[0].rule == "example-shire.review_chair"


def test_reviews_every_eight_weeks(shire):
    assert open_due(in_force(shire), "cin_review").due == D("2027-06-03")


def test_visits_by_age(shire):
    assert open_due(in_force(shire, born="2023-05-02"), "visit").due == D("2027-04-22")  # under 5: 10 WD
    assert open_due(in_force(shire, born="2018-05-02"), "visit").due == D("2027-05-06")  # 5+: 4 weeks


def test_refused_consent_with_early_help(shire):
    case = apply(shire, shire.new_case("ES-C", cinflow.Child(birth_date=D("2020-01-01"))), "referral_received", "2027-02-01")
    case = apply(shire, case, "consent_refused", "2027-02-03", early_help=True)
    assert case.state == "stepped_down"


def test_closure_needs_the_team_managers_sign_off(shire):
    case = apply(shire, in_force(shire), "cin_meeting", "2027-06-03", kind="review", chair="team_manager", outcome="close")
    assert not case.last.accepted and case.last.reasons[0].rule == "example-shire.closure_sign_off"
