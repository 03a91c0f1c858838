"""The fast path (each (state, event) resolved once, no `transitions` trigger
machinery) is proven identical to the plain engine that drives every event
through the `transitions` machine: random event sequences and a whole
simulated cohort, every history item and every deadline compared."""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cinflow
import cinflow.states
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


# -- what assembly compiles for the fast path, against what it was compiled from --

def test_compiled_guards_are_the_guards_for_each_destination():
    for policy_id in POLICIES:
        policy = REGISTRY[policy_id]
        for (state, name), specs in policy._table.items():
            compiled = policy._compiled[(state, name)]
            assert tuple(c[0] for c in compiled) == specs
            for spec, selected, dest, guards in compiled:
                assert dest == (spec.dest or state) and (selected is None) == (not spec.when)
                expected = [g for g in policy._guards_by_event.get(name, ()) if g.dests is None or dest in g.dests]
                assert [c[1] for c in guards] == expected
                for check, guard, rule_id, level, source, exception in guards:
                    assert (check, rule_id, level, source) == (guard.check, guard.rule.id, guard.rule.level, guard.rule.source)
                    assert (exception is None) == (level != "should")


TRANSITIONS_WITH_WHEN = [spec for spec in cinflow.states.TRANSITIONS if spec.when]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(TRANSITIONS_WITH_WHEN), st.data())
def test_compiled_selectors_choose_as_the_machine_does(spec, data):
    """Each transition's compiled selector agrees with ``selects`` (what the
    ``transitions`` machine asks) for events carrying any of the values it
    names, values it does not, or none, and for a decided route."""
    from types import SimpleNamespace

    from cinflow.machine import Attempt, selects
    from cinflow.policy import selector

    sel = selector(spec)
    values = {}
    for name, allowed in spec.when:
        choices = sorted(allowed, key=str) + [None, "not-a-value"]
        values[name] = data.draw(st.sampled_from(choices), label=name)
    decided = {}
    if "route" in values and data.draw(st.booleans(), label="route decided"):
        decided["route"] = values.pop("route")
    event = SimpleNamespace(event=spec.trigger, date=date(2026, 3, 30), **{k: v for k, v in values.items() if v is not None})
    attempt = Attempt(None, event, decided)
    assert sel(attempt) == selects(spec, attempt)


def test_compiled_openings_are_the_rules_that_apply_in_each_state():
    from cinflow import states

    for policy_id in POLICIES:
        policy = REGISTRY[policy_id]
        for name, pairs in policy._opens.items():
            for state in states.STATES:
                expected = [r for r, _ in pairs if r.while_in is None or state in r.while_in]
                assert [row[4] for row in policy._fast_opens.get((name, state), ())] == expected


DEADLINE_RULES = [(pid, i) for pid in POLICIES for i in range(len(REGISTRY[pid].deadline_rules))]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(DEADLINE_RULES), st.dates(date(2000, 1, 1), date(2060, 12, 31)), st.integers(-30, 400),
       st.booleans(), st.data())
def test_compiled_due_dates_are_the_rules_own(which, day, agreed_in, with_agreed, data):
    """Each deadline rule's due date as a plain function of the event gives
    what ``rule.due_for`` gives, for every event that opens it (with and
    without an agreed date, before and after its timescale is in force)."""
    from attrs import fields

    from cinflow.events import EVENT_TYPES
    from cinflow.policy import due_function
    from cinflow.rules import Context

    policy_id, i = which
    policy = REGISTRY[policy_id]
    rule = policy.deadline_rules[i]
    due = due_function(rule)
    if due is None:
        return  # asked through rule.due_for on the fast path too
    trig = data.draw(st.sampled_from(rule.opens_on))
    cls = EVENT_TYPES[trig.event]
    attrs = {k: sorted(v, key=str)[0] for k, v in trig.when}
    names = {a.name for a in fields(cls)}
    if "kind" in names and "kind" not in attrs:
        attrs["kind"] = "review"
    if trig.event == "cin_meeting":
        attrs.setdefault("chair", "team_manager")
        attrs.setdefault("outcome", "continue")
    if trig.event == "supervision_order_made":
        attrs["ends_on"] = day + timedelta(days=200)
    if trig.event in ("assessment_completed", "s47_completed", "icpc_held", "cp_plan_ended") and "outcome" not in attrs:
        attrs["outcome"] = "cin_plan"
    if trig.event == "move_notified":
        attrs.setdefault("planned", True)
    if trig.event == "case_closed":
        attrs.setdefault("reason", "RC7")
    if rule.agreed_attr and rule.agreed_attr in names and with_agreed:
        attrs[rule.agreed_attr] = day + timedelta(days=max(1, agreed_in))
    ev = cls(date=day, **attrs)
    case = policy.new_case("D-1", Child(birth_date=date(2012, 3, 4)))
    assert due(ev) == rule.due_for(Context(case, ev, "cin_plan"))


@pytest.mark.parametrize("policy_id", POLICIES)
def test_rows_encode_without_the_converter_as_with_it(policy_id):
    """The row builders' own encoding of a case's child and facts and of each
    item's reasons, advice and exceptions is the converter's, character for
    character (a simulated cohort, exceptions and refusals included)."""
    from cinflow.store.rows import _list_json, fast_json, to_json

    cal = load_calibration()
    gen = Generator(11)
    cohort = Cohort(cal, gen, date(2026, 4, 1), 12, 300, warm_up=12)
    pr = Practitioner(REGISTRY[policy_id], cal, gen, date(2027, 4, 1))
    seen = 0
    for i in range(len(cohort)):
        case = pr.run(cohort[i], f"R-{i}")
        assert fast_json(case.child) == to_json(case.child)
        assert fast_json(case.facts) == to_json(case.facts)
        for h in case.history:
            for items in (h.reasons, h.advice, h.exceptions):
                if items:
                    seen += 1
                    assert _list_json(items) == to_json(list(items)) == _list_json(items)
    from cinflow.models import Advice, ExceptionUse, Reason, needs_chair, needs_exception, not_before

    made = ((Reason("r", "m", "s", (needs_chair(["iro"]), not_before(date(2026, 5, 1)), needs_exception("r", ["x"]))),),
            (Advice("a", "m", "s"), Advice("b", "n", "t")), (ExceptionUse("r", "team_manager", "why", "s", date(2026, 1, 2)),))
    for items in made:
        assert _list_json(items) == to_json(list(items))
    # Not a record the rows hold: the converter's answer.
    assert fast_json({"a": date(2026, 1, 2)}) == to_json({"a": date(2026, 1, 2)})


# -- the generated helpers the engine shares with the reference path, against attrs itself --
# (the differential tests above cannot see a fault here: both paths call these)

@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(event_sequences())
def test_generated_attributes_are_the_fields_that_differ_from_their_defaults(events):
    import attrs

    from cinflow.events import attributes

    for ev in events:
        expected = {a.name: getattr(ev, a.name) for a in attrs.fields(type(ev))
                    if a.name != "date" and getattr(ev, a.name) != a.default}
        got = attributes(ev)
        assert got == expected and list(got) == list(expected)  # the same values, in field order
        assert attributes(ev) is got or not got  # equal attributes are one shared dict


facts_values = st.fixed_dictionaries({}, optional={
    "referral_date": st.dates(), "referral_source": st.sampled_from(["1A", "3B"]), "closed_on": st.dates(),
    "closure_reason": st.sampled_from(["RC1", "RC7"]), "review_chair": st.sampled_from(["team_manager", "iro"]),
    "last_meeting": st.dates() | st.none(), "plan_origin": st.sampled_from(["cin_plan", "supervision_order"]),
})


@settings(max_examples=300, deadline=None)
@given(facts_values, facts_values)
def test_generated_evolve_of_facts_is_attrs_evolve(start, changes):
    import attrs

    from cinflow.engine import _evolve_facts
    from cinflow.models import CaseFacts

    facts = CaseFacts(**start)
    assert _evolve_facts(facts, dict(changes)) == attrs.evolve(facts, **changes)
