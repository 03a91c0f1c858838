"""My Council's tests: conformance, and a worked date for every rule."""

from datetime import date

import cinflow
from cinflow.conformance import check_policy

REGISTRY = cinflow.Registry.load()
D = date.fromisoformat


def test_conforms():
    assert check_policy(REGISTRY, "my-council") == []


def test_initial_meeting_within_10_working_days_across_easter():
    policy = REGISTRY["my-council"]
    case = policy.new_case("MC-T", cinflow.Child(birth_date=D("2015-09-14")))
    for name, day, attrs in [("referral_received", "2026-02-02", {}), ("consent_given", "2026-02-03", {}),
                             ("assessment_completed", "2026-03-30", {"outcome": "cin_plan"})]:
        case = policy.apply(case, cinflow.event(name, day, **attrs))
    # Mon 30 Mar 2026 + 10 working days, skipping Good Friday and Easter Monday.
    assert [d.due for d in case.deadlines if d.name == "initial_cin_meeting"] == [D("2026-04-15")]
