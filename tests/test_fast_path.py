"""The fast path (each (state, event) resolved once, no `transitions` trigger
machinery) is proven identical to the plain engine that drives every event
through the `transitions` machine: random event sequences and a whole
simulated cohort, every history item and every deadline compared."""

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cinflow
from cinflow import Child
from cinflow.plugins import Registry
from cinflow.simulation.calibration import load_calibration
from cinflow.simulation.cohort import Cohort
from cinflow.simulation.draws import Generator
from cinflow.simulation.practice import Practitioner

from test_properties import children, event_sequences, known_to

REGISTRY = Registry.load()
POLICIES = REGISTRY.ids()


def test_the_reference_engine_really_uses_the_machine(monkeypatch):
    kent = REGISTRY["kent"]
    ref = kent.reference()
    assert kent.fast and not ref.fast
    calls = []
    monkeypatch.setattr(ref, "_fire", lambda attempt: calls.append(attempt) or False)
    case = ref.apply(ref.new_case("X", Child(birth_date=date(2014, 6, 12))), cinflow.event("referral_received", "2026-01-05"))
    assert case.state == "referral" and calls == []


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(POLICIES), children, event_sequences())
def test_random_sequences_give_identical_cases(policy_id, child, events):
    fast = REGISTRY[policy_id]
    plain = fast.reference()
    a = fast.new_case("D-1", child)
    b = plain.new_case("D-1", child)
    for ev in known_to(fast, events):
        a, b = fast.apply(a, ev), plain.apply(b, ev)
        assert a == b


@pytest.mark.parametrize("policy_id", POLICIES)
def test_a_simulated_cohort_is_identical_both_ways(policy_id):
    cal = load_calibration()
    gen = Generator(2024)
    cohort = Cohort(cal, gen, date(2026, 4, 1), 12, 400)
    until = date(2027, 4, 1)
    fast = Practitioner(REGISTRY[policy_id], cal, gen, until)
    plain = Practitioner(REGISTRY[policy_id].reference(), cal, gen, until)
    events = 0
    for i in range(len(cohort)):
        a = fast.run(cohort[i], f"C-{i}")
        b = plain.run(cohort[i], f"C-{i}")
        assert a.history == b.history and a.deadlines == b.deadlines and a == b
        events += len(a.history)
    assert events > 1000
