"""Property-based tests: random event sequences against every policy."""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cinflow
from cinflow import Child
from cinflow.convert import event_to_dict, structure_event
from cinflow.events import SUBMITTABLE_EVENTS
from cinflow.models import Deadline
from cinflow.plugins import Registry
from cinflow.scenario import parse_scenario
from cinflow.store import Store
from cinflow.vocabulary import MEETING_OUTCOMES, ROLES

REGISTRY = Registry.load()
POLICIES = REGISTRY.ids()
# Every decision kind any installed policy asks for, so guards get exercised both ways.
DECISION_KINDS = sorted({"unrelated_decision"} | {
    kind for pid in POLICIES for rule in REGISTRY[pid].rules() for kind in rule.decision_kinds()
})

# Rules that take exceptions (comply or explain), and a few that do not.
EXCEPTION_RULES = sorted({r.id for pid in POLICIES for r in REGISTRY[pid].rule_index.values() if r.level == "should"}
                         | {"england.under_eighteen", "kent.no_such_rule"})

ATTRS = {
    "consent_given": {"young_person_consent": st.none() | st.booleans()},
    "consent_refused": {"significant_harm_likely": st.booleans(), "early_help": st.booleans(),
                        "alternative_support": st.booleans()},
    "assessment_completed": {"outcome": st.sampled_from(["cin_plan", "no_further_action", "early_help", "s47"])},
    "s47_completed": {"outcome": st.sampled_from(["icpc", "cin_plan", "no_further_action"])},
    "icpc_held": {"outcome": st.sampled_from(["cin_plan", "no_further_action"])},
    "cp_plan_ended": {"outcome": st.sampled_from(["cin_plan", "closed"])},
    "cin_meeting": {"kind": st.sampled_from(["initial", "review"]), "chair": st.sampled_from(ROLES),
                    "outcome": st.sampled_from(MEETING_OUTCOMES), "review_chair": st.none() | st.sampled_from(ROLES),
                    "lead_professional_named": st.none() | st.booleans()},
    "visit": {"seen_alone": st.booleans()},
    "manager_decision": {"kind": st.sampled_from(DECISION_KINDS), "role": st.none() | st.sampled_from(ROLES)},
    "move_notified": {"planned": st.booleans()},
    "case_closed": {"reason": st.sampled_from(["RC1", "RC7", "no longer in need"])},
}
# Weight the lifecycle's main path so sequences get deep into plans.
MAIN = ["referral_received", "consent_given", "assessment_completed", "cin_meeting", "cin_meeting", "visit", "minutes_circulated"]


@st.composite
def event_sequences(draw):
    day = draw(st.dates(date(2024, 1, 1), date(2030, 12, 31)))
    events = []
    for _ in range(draw(st.integers(1, 25))):
        day += timedelta(days=draw(st.integers(0, 40)))
        name = draw(st.sampled_from(MAIN) | st.sampled_from(SUBMITTABLE_EVENTS))
        attrs = {k: draw(v) for k, v in ATTRS.get(name, {}).items()}
        if name == "cin_meeting" and draw(st.booleans()):
            attrs["next_review"] = (day + timedelta(days=draw(st.integers(1, 120)))).isoformat()
        if name == "supervision_order_made":
            attrs["ends_on"] = (day + timedelta(days=draw(st.integers(1, 400)))).isoformat()
        if name == "visit" and draw(st.booleans()):
            attrs["next_visit"] = (day + timedelta(days=draw(st.integers(1, 40)))).isoformat()
        if name == "manager_decision" and draw(st.integers(0, 2)) == 0:
            attrs.update(kind="exception", rule=draw(st.sampled_from(EXCEPTION_RULES)),
                         role=draw(st.sampled_from(ROLES)), reason="agreed in supervision")
        if name == "assessment_completed" and draw(st.booleans()):
            attrs["decided_on"] = (day - timedelta(days=draw(st.integers(0, 10)))).isoformat()
        events.append(cinflow.event(name, day, **attrs))
    return events


children = st.builds(
    Child,
    birth_date=st.dates(date(2006, 1, 1), date(2025, 12, 31)),
    disabled=st.booleans(),
    short_break_nights=st.integers(0, 120),
    short_break_settings=st.integers(0, 4),
)


def known_to(policy, events):
    """The events a policy accepts as input: a manager_decision of a kind (or
    by a role) no rule of the policy knows is bad input, refused at the edge
    with one line and no change."""
    out = []
    for ev in events:
        if ev.event == "manager_decision" and (ev.kind not in policy.decision_kinds or
                                               (ev.role is not None and ev.kind != "exception"
                                                and ev.role not in policy.known_roles) or
                                               (ev.kind == "exception" and ev.rule not in policy.rule_index)):
            with pytest.raises(cinflow.InputError, match="^manager_decision (kind|role|rule) ") as exc:
                policy.apply(policy.new_case("V-1", Child(birth_date=date(2014, 1, 1))), ev)
            assert "\n" not in str(exc.value)
            continue
        out.append(ev)
    return out


BREACHES = ("overdue", "late", "missed")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(POLICIES), children, event_sequences())
def test_random_sequences_never_crash_and_refusals_change_nothing(policy_id, child, events):
    policy = REGISTRY[policy_id]
    case = policy.new_case("P-1", child)
    breached: dict = {}  # occurrence -> the first day it was seen overdue
    for ev in known_to(policy, events):
        before = policy.advance(case, ev.date)
        after = policy.apply(case, ev)
        assert after.version == len(after.history)
        item = after.last
        if item.accepted:
            assert item.from_state == before.state and item.to_state == after.state
        else:
            assert item.reasons and all(r.rule and r.message and r.source for r in item.reasons)
            assert (after.state, after.facts, after.deadlines) == (before.state, before.facts, before.deadlines)
        for d in after.deadlines:
            assert not (d.met_on and d.ended_on)
            assert d.met_on is None or d.met_on >= d.opened_on
            key = (d.name, d.rule, d.opened_on, d.due)
            # A breach never disappears: once overdue, an occurrence is only ever overdue, late or missed.
            if key in breached:
                assert d.status(ev.date) in BREACHES, (d, breached[key])
            elif d.status(ev.date) == "overdue":
                breached[key] = ev.date
        # Exceptions are used once: no more uses than were recorded.
        uses = sum(len(h.exceptions) for h in after.history)
        recorded = sum(1 for h in after.history if h.accepted and h.event == "manager_decision"
                       and h.attributes.get("kind") == "exception")
        assert uses + len(after.facts.exceptions) == recorded
        case = after
    assert sum(1 for d in case.deadlines if d.is_open and d.name == "cin_review") <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(POLICIES), children, event_sequences())
def test_persist_and_reload_identically(tmp_path, policy_id, child, events):
    policy = REGISTRY[policy_id]
    case = policy.new_case("P-1", child)
    for ev in known_to(policy, events):
        case = policy.apply(case, ev)
    with Store(":memory:", REGISTRY) as store:
        store.add(case)
        assert store.load("P-1") == case


@settings(deadline=None, suppress_health_check=list(HealthCheck))
@given(event_sequences())
def test_event_parser_round_trips(events):
    for ev in events:
        assert structure_event(event_to_dict(ev)) == ev


@settings(deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(["authority", "case", "child", "events", "as_of", "extra"]),
                       st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)))
def test_scenario_parser_rejects_junk_with_input_error_only(data):
    try:
        parse_scenario(data)
    except cinflow.InputError as exc:
        assert "\n" not in str(exc)


def test_deadline_status_vocabulary():
    d = Deadline("visit", date(2026, 3, 25), "kent.visit_interval", "x", date(2026, 2, 25))
    assert [d.status(date(2026, 3, 25)), d.status(date(2026, 3, 26))] == ["open", "overdue"]
