"""One identical case under all seven authorities: where their procedures differ."""

from datetime import date

import pytest

import cinflow

D = date.fromisoformat
AUTHORITIES = ["kent", "london-borough", "reading", "west-berkshire", "wokingham", "cheshire-west-and-chester", "wirral"]

# Referral 5 Jan 2026, assessment completed Fri 13 Feb (plan needed), initial
# meeting Wed 25 Feb that agrees a review by 31 Jul and the social worker as
# review chair.  Each authority's initial meeting is chaired by a role it admits.
EXPECTED = {
    #                            initial meeting due, first review due, visit due
    "kent":                      ("2026-02-27", "2026-05-20", "2026-03-25"),  # 10 WD; 12 weeks; 4 weeks
    "london-borough":            ("2026-03-06", "2026-05-25", "2026-03-25"),  # 15 WD; 3 months; 20 WD
    "reading":                   ("2026-02-27", "2026-04-08", "2026-03-18"),  # 10 WD; 6 weeks; 3 weeks
    "west-berkshire":            ("2026-02-27", "2026-05-25", "2026-03-18"),  # 10 WD; 3 months; 3 weeks
    "wokingham":                 ("2026-02-27", "2026-04-08", "2026-03-18"),  # 10 WD; 6 weeks; 3 weeks
    "cheshire-west-and-chester": (None, "2026-05-25", None),                  # none set; 3 months; none set
    "wirral":                    ("2026-03-06", "2026-07-31", "2026-03-25"),  # 15 WD; the agreed date; 20 WD
}


def initial_chair(policy):
    """A role every chair rule for initial meetings admits."""
    allowed = None
    for rule in policy.chair_rules:
        if "initial" in rule.kinds:
            allowed = set(rule.roles) if allowed is None else allowed & set(rule.roles)
    return sorted(allowed)[0] if allowed else "social_worker"


def run_case(policy):
    case = policy.new_case("SBS-1", cinflow.Child(birth_date=date(2014, 6, 12)))
    events = [
        cinflow.event("referral_received", "2026-01-05"),
        cinflow.event("consent_given", "2026-01-05"),
        cinflow.event("assessment_completed", "2026-02-13", outcome="cin_plan"),
    ]
    for ev in events:
        case = policy.apply(case, ev)
    before_meeting = case
    meeting = cinflow.event("cin_meeting", "2026-02-25", kind="initial", chair=initial_chair(policy), outcome="continue",
                            next_review="2026-07-31", review_chair="social_worker")
    case = policy.apply(case, meeting)
    assert case.last.accepted, (policy.id, case.last.reasons)
    return before_meeting, case


def due(case, name):
    found = [d.due for d in case.deadlines if d.name == name]
    return found[0].isoformat() if found else None


@pytest.mark.parametrize("authority", AUTHORITIES)
def test_same_case_different_procedures(registry, authority):
    before, after = run_case(registry[authority])
    initial, review, visit = EXPECTED[authority]
    assert due(before, "initial_cin_meeting") == initial
    assert due(after, "cin_review") == review
    assert due(after, "visit") == visit
    assert after.state == "cin_plan"


def test_the_differences_in_one_table(registry):
    table = {a: tuple(due(c, n) for c, n in zip(run_case(registry[a]), ("initial_cin_meeting", "cin_review")))
             for a in AUTHORITIES}
    # The first review: 6 weeks in Reading and Wokingham, 3 months in West
    # Berkshire, the London borough and Cheshire, 12 weeks in Kent; Wirral sets none.
    reviews = {}
    for authority, (_, review) in table.items():
        reviews.setdefault(review, []).append(authority)
    assert reviews == {
        "2026-04-08": ["reading", "wokingham"],
        "2026-05-20": ["kent"],
        "2026-05-25": ["london-borough", "west-berkshire", "cheshire-west-and-chester"],
        "2026-07-31": ["wirral"],
    }
