"""A hypothesis state machine: one stored case under a random policy, driven
by events, authorised exceptions and the clock (``Store.advance``), checked
after every step against the same case kept in memory.

Invariants: what an append stores from the case's projection (not its whole
history) is exactly the in-memory case, read back and replayed; a refused event
changes nothing; exceptions are used once; a breach never disappears."""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import cinflow
from cinflow.engine import exception_roles
from cinflow.events import SUBMITTABLE_EVENTS
from cinflow.states import OPEN_STATES
from cinflow.store import Store

from test_properties import ATTRS, MAIN, POLICIES, REGISTRY, children

BREACHES = ("overdue", "late", "missed")


class StoredCase(RuleBasedStateMachine):
    @initialize(policy_id=st.sampled_from(POLICIES), child=children, start=st.dates(date(2024, 1, 1), date(2029, 1, 1)),
                cached=st.booleans())
    def start(self, policy_id, child, start, cached):
        self.policy = REGISTRY[policy_id]
        # Appends read a projection (a few rows); the case they return comes
        # from memory or, with no cache, from every row: both must be the case.
        self.store = Store(":memory:", REGISTRY, cache_cases=512 if cached else 0)
        self.case = self.policy.new_case("S-1", child)
        self.store.add(self.case)
        self.day = start
        self.breached: dict = {}
        self.should = sorted(self.policy.exceptionable)

    def teardown(self):
        if hasattr(self, "store"):
            self.store.close()

    def _submit(self, ev):
        before = self.policy.advance(self.case, ev.date)
        after = self.store.append("S-1", ev, self.case.version)
        assert after == self.policy.apply(self.case, ev)
        if not after.last.accepted:
            assert (after.state, after.facts, after.deadlines) == (before.state, before.facts, before.deadlines)
        self.case = after

    @rule(gap=st.integers(0, 30), data=st.data())
    def event(self, gap, data):
        self.day += timedelta(days=gap)
        name = data.draw(st.sampled_from(MAIN) | st.sampled_from(SUBMITTABLE_EVENTS))
        attrs = {k: data.draw(v) for k, v in ATTRS.get(name, {}).items()}
        if name == "supervision_order_made":
            attrs["ends_on"] = (self.day + timedelta(days=data.draw(st.integers(1, 400)))).isoformat()
        if name == "cin_meeting" and data.draw(st.booleans()):
            attrs["next_review"] = (self.day + timedelta(days=data.draw(st.integers(1, 120)))).isoformat()
        ev = cinflow.event(name, self.day, **attrs)
        if name == "manager_decision" and (ev.kind not in self.policy.decision_kinds or
                                           (ev.role is not None and ev.kind != "exception"
                                            and ev.role not in self.policy.known_roles)):
            with pytest.raises(cinflow.InputError):
                self.store.append("S-1", ev, self.case.version)
            assert self.store.load("S-1") == self.case  # bad input loses nothing and writes nothing
            return
        self._submit(ev)

    @precondition(lambda self: self.should)
    @rule(data=st.data(), authorised=st.booleans())
    def exception(self, data, authorised):
        rule_id = data.draw(st.sampled_from(self.should))
        roles = exception_roles(self.policy.rule_index[rule_id])
        role = data.draw(st.sampled_from(roles) if authorised else st.sampled_from(sorted(self.policy.known_roles)))
        pending = len(self.case.facts.exceptions)
        was_open = self.policy.advance(self.case, self.day).state in OPEN_STATES
        self._submit(cinflow.event("manager_decision", self.day, kind="exception", rule=rule_id, role=role,
                                   reason="authorised in supervision"))
        assert len(self.case.facts.exceptions) == pending + (1 if self.case.last.accepted else 0)
        assert self.case.last.accepted == (was_open and role in roles)

    @rule(days=st.integers(0, 4000))
    def tick(self, days):
        self.day += timedelta(days=days)
        self.store.advance(self.day)
        self.case = self.policy.advance(self.case, self.day)
        again = self.store.advance(self.day)
        assert again == []  # twice changes nothing

    @invariant()
    def store_replays_to_the_same_case(self):
        if hasattr(self, "store"):
            assert self.store.load("S-1") == self.case
            assert self.case.version == len(self.case.history)
            assert self.store.replay("S-1") == self.case  # the event log is the truth
            assert self.store.verify() == []

    @invariant()
    def exceptions_are_used_once(self):
        if hasattr(self, "case"):
            uses = sum(len(h.exceptions) for h in self.case.history)
            recorded = sum(1 for h in self.case.history if h.accepted and h.event == "manager_decision"
                           and h.attributes.get("kind") == "exception")
            assert uses + len(self.case.facts.exceptions) == recorded

    @invariant()
    def a_breach_never_disappears(self):
        if not hasattr(self, "case"):
            return
        for d in self.case.deadlines:
            key = (d.name, d.rule, d.opened_on, d.due)
            status = d.status(self.day)
            if key in self.breached:
                assert status in BREACHES, (d, self.breached[key])
            elif status == "overdue":
                self.breached[key] = self.day


StoredCase.TestCase.settings = settings(max_examples=int(__import__("os").environ.get("STATEFUL_EXAMPLES", 60)), stateful_step_count=25, deadline=None,
                                        suppress_health_check=list(HealthCheck))
test_a_stored_case_under_events_exceptions_and_time = StoredCase.TestCase
