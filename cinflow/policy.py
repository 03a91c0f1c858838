"""A policy assembled from its plugin layers, and the engine that applies
events to cases under it.

Hooks are called once here; per event the engine only looks up the guards
and deadline rules indexed by event name.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from itertools import chain

from transitions import MachineError

from . import states
from .calendar import birthday
from .errors import EventOrderError, InputError
from .events import AUTOMATIC_EVENTS, EighteenthBirthday, attributes
from .machine import Attempt, CaseModel, build_machine
from .models import Case, CaseFacts, Child, Deadline, Decision, HistoryItem, Reason
from .rules import ChairRule, ConsentRoute, Context, DeadlineRule, Guard, PolicyInfo, RuleInfo
from .vocabulary import CLOSURE_REASONS, roles_in_words

LIFECYCLE_SOURCE = "cinflow lifecycle (cinflow/states)"
ADULTHOOD = 18


class Policy:
    """One authority's procedure: its rules gathered from every layer."""

    def __init__(self, info: PolicyInfo, layers, pm, fast: bool = True):
        self.info = info
        self.fast = fast
        self._pm = pm
        self.id = info.id
        self.layers = tuple(layers)
        self.layer_ids = tuple(layer.POLICY.id for layer in layers)
        # Each layer's rule book (policy.yaml), when it has one: the catalogue lists them all.
        self.rulebooks = tuple(book for book in (getattr(layer, "RULES", None) for layer in layers) if book is not None)
        hook = pm.hook
        self.guards: tuple[Guard, ...] = tuple(chain.from_iterable(hook.transition_guards(policy=info)))
        self.deadline_rules: tuple[DeadlineRule, ...] = tuple(chain.from_iterable(hook.deadline_rules(policy=info)))
        self.chair_rules: tuple[ChairRule, ...] = tuple(chain.from_iterable(hook.chair_rules(policy=info)))
        routes = chain.from_iterable(hook.consent_refusal_routes(policy=info))
        # The top layer's routes first, then down to the national baseline.
        self.consent_routes: tuple[ConsentRoute, ...] = tuple(
            sorted(routes, key=lambda r: -self._layer_of(r.rule))
        )
        self._check_objects()

        self._guards_by_event: dict[str, tuple[Guard, ...]] = {}
        for g in self.guards:
            for name in g.events:
                self._guards_by_event[name] = self._guards_by_event.get(name, ()) + (g,)
        self._opens: dict[str, tuple[tuple[DeadlineRule, tuple], ...]] = {}
        self._fulfils: dict[str, tuple[tuple[str, object], ...]] = {}
        self._while_in: dict[tuple[str, str], frozenset | None] = {}
        for r in self.deadline_rules:
            # Per event: each rule once, with its triggers for that event.
            for name in dict.fromkeys(t.event for t in r.opens_on):
                trigs = tuple(t for t in r.opens_on if t.event == name)
                self._opens[name] = self._opens.get(name, ()) + ((r, trigs),)
            for trig in r.fulfilled_by:
                self._fulfils[trig.event] = self._fulfils.get(trig.event, ()) + ((r.name, trig),)
            self._while_in[(r.rule.id, r.name)] = r.while_in
        # The deadline names each event can fulfil or reopen.
        self._touches: dict[str, frozenset] = {}
        for event_name in set(self._opens) | set(self._fulfils):
            self._touches[event_name] = frozenset(
                [n for n, _ in self._fulfils.get(event_name, ())] + [r.name for r, _ in self._opens.get(event_name, ())])
        self._machine = None
        # The fast path: each (state, event) resolved once to the transitions
        # the machine would consider, in the machine's order.
        self._table: dict[tuple[str, str], tuple] = {}
        for spec in states.TRANSITIONS:
            for source in spec.source:
                key = (source, spec.trigger)
                self._table[key] = self._table.get(key, ()) + (spec,)

    @property
    def machine(self):
        """The ``transitions`` machine for this policy, built on first use
        (the fast path and start-up do not need it)."""
        if self._machine is None:
            self._machine = build_machine(self._check)
        return self._machine

    def reference(self) -> "Policy":
        """The same policy driving every event through the ``transitions``
        machine (the plain engine the fast path is tested against)."""
        return Policy(self.info, self.layers, self._pm, fast=False)

    # -- assembly -------------------------------------------------------------

    def _layer_of(self, rule: RuleInfo) -> int:
        prefix = rule.id.split(".", 1)[0]
        return self.layer_ids.index(prefix) if prefix in self.layer_ids else 0

    def _check_objects(self) -> None:
        from .errors import PluginError

        kinds = ((Guard, self.guards), (DeadlineRule, self.deadline_rules),
                 (ChairRule, self.chair_rules), (ConsentRoute, self.consent_routes))
        for cls, objects in kinds:
            for obj in objects:
                if not isinstance(obj, cls):
                    raise PluginError(f"policy {self.id}: a hook returned {obj!r} where a {cls.__name__} belongs")
        for route in self.consent_routes:
            if route.dest not in states.STATES:
                raise PluginError(f"{route.rule.id}: consent route to unknown state {route.dest!r}")
        for r in self.deadline_rules:
            if r.rule.timescale is None and r.agreed_attr is None:
                raise PluginError(f"{r.rule.id}: deadline {r.name!r} has neither a timescale nor an agreed date")

    def rules(self) -> list[RuleInfo]:
        """Every rule this policy enforces, each once, in layer order."""
        seen: dict[str, RuleInfo] = {}
        for obj in chain(self.guards, self.chair_rules, self.consent_routes, self.deadline_rules):
            seen.setdefault(obj.rule.id, obj.rule)
        return sorted(seen.values(), key=lambda r: (self._layer_of(r), r.id))

    # -- the engine -----------------------------------------------------------

    def new_case(self, case_id: str, child: Child) -> Case:
        return Case(id=case_id, authority=self.id, child=child)

    def apply(self, case: Case, event) -> Case:
        """Apply one event; return the new case.  A refused event is recorded in
        the history with its reasons and changes nothing else."""
        if case.authority != self.id:
            raise InputError(f"case {case.id} is under {case.authority!r}, not {self.id!r}")
        if event.event in AUTOMATIC_EVENTS:
            raise InputError(f"{event.event} is made by the engine and cannot be submitted")
        if case.last_date is not None and event.date < case.last_date:
            raise EventOrderError(
                f"{event.event} on {event.date.isoformat()} is dated before the case's last event "
                f"({case.last_date.isoformat()}); events must be in date order"
            )
        case = self.advance(case, event.date)
        return self._apply(case, event, automatic=False)

    def advance(self, case: Case, to: date) -> Case:
        """Let time pass up to and including ``to``: make the automatic
        transitions that fall due (the 18th birthday ends an open case)."""
        if case.state in states.OPEN_STATES:
            adult = _adulthood(case.child.birth_date)
            if adult <= to:
                case = self._apply(case, EighteenthBirthday(max(adult, case.last_date or adult)), automatic=True)
        return case

    def consent_route(self, ctx: Context) -> ConsentRoute | None:
        for route in self.consent_routes:
            if route.applies(ctx):
                return route
        return None

    def _check(self, attempt: Attempt, spec) -> bool:
        """The guard every transition asks: all policy guards for the event."""
        guards = self._guards_by_event.get(attempt.event.event, ())
        if not guards and attempt.event.event != "cin_meeting":
            return not attempt.reasons
        ctx = Context(attempt.case, attempt.event, spec.dest or attempt.case.state)
        reasons = attempt.reasons
        for guard in guards:
            if guard.dests is not None and ctx.dest not in guard.dests:
                continue
            message = guard.check(ctx)
            if message:
                reasons.append(Reason(guard.rule.id, message, guard.rule.source))
        if attempt.event.event == "cin_meeting":
            ev = attempt.event
            for rule in self.chair_rules:
                if ev.kind in rule.kinds and rule.applies(ctx) and ev.chair not in rule.roles:
                    reasons.append(Reason(
                        rule.rule.id,
                        f"This {ev.kind} CIN meeting must be chaired by {roles_in_words(rule.roles)}; "
                        f"it was chaired by {roles_in_words([ev.chair])}.",
                        rule.rule.source,
                    ))
        return not reasons

    def _apply(self, case: Case, event, automatic: bool) -> Case:
        decided = {}
        route_reason = None
        if event.event == "consent_refused":
            route = self.consent_route(Context(case, event))
            if route is None:
                route_reason = Reason("lifecycle.consent_route", "No rule of this policy says where refused consent leads.", LIFECYCLE_SOURCE)
            else:
                decided["route"] = route.dest
        attempt = Attempt(case, event, decided)
        moved = False
        if route_reason is None:
            if self.fast:
                moved = self._fire(attempt)
            else:
                try:
                    moved = self.machine.events[event.event].trigger(CaseModel(case.state), attempt=attempt)
                except MachineError:
                    moved = False
        if not moved:
            reasons = tuple(attempt.reasons) or (route_reason or self._not_possible(case, event),)
            item = HistoryItem(event.date, event.event, False, case.state, case.state, reasons, automatic, attributes(event))
            return Case(case.id, case.authority, case.child, case.state, case.version + 1, case.facts,
                        case.history + (item,), case.deadlines)

        spec = attempt.spec
        new_state = spec.dest or case.state
        facts = _next_facts(case.facts, event, spec, new_state)
        after = Case(case.id, case.authority, case.child, new_state, case.version, facts, case.history, case.deadlines)
        deadlines = self._next_deadlines(case, after, event, new_state)
        item = HistoryItem(event.date, event.event, True, case.state, new_state, (), automatic, attributes(event))
        return Case(case.id, case.authority, case.child, new_state, case.version + 1, facts,
                    case.history + (item,), deadlines)

    def _fire(self, attempt: Attempt) -> bool:
        """What the machine does for a trigger, without the machinery: the
        first transition from this state whose selector matches is checked
        by the guards (as ``transitions`` evaluates conditions in order)."""
        for spec in self._table.get((attempt.case.state, attempt.event.event), ()):
            for name, allowed in spec.when:
                if attempt.value(name) not in allowed:
                    break
            else:
                if self._check(attempt, spec):
                    attempt.spec = spec
                    return True
        return False

    def _not_possible(self, case: Case, event) -> Reason:
        detail = ", ".join(f"{n}={getattr(event, n)}" for n in ("kind", "outcome") if getattr(event, n, None) is not None)
        what = event.event + (f" ({detail})" if detail else "")
        return Reason(
            "lifecycle.not_from_state",
            f"{what} is not possible while the case is at '{case.state}' ({states.STATES[case.state]}).",
            LIFECYCLE_SOURCE,
        )

    def _next_deadlines(self, before: Case, after: Case, event, new_state: str) -> tuple[Deadline, ...]:
        day = event.date
        name_of_event = event.event
        fulfils = self._fulfils.get(name_of_event, ())
        opens = self._opens.get(name_of_event, ())
        state_changed = new_state != before.state
        if not fulfils and not opens and not state_changed:
            return before.deadlines
        deadlines = list(before.deadlines)
        # Open deadlines by name, found in one pass (met and cancelled ones never
        # change); only the names this event can touch, unless the state changed.
        open_at: dict[str, list[int]] = {}
        if state_changed:
            for i, d in enumerate(deadlines):
                if d.met_on is None and d.cancelled_on is None:
                    open_at.setdefault(d.name, []).append(i)
        else:
            needed = self._touches[name_of_event]
            for i, d in enumerate(deadlines):
                if d.met_on is None and d.cancelled_on is None and d.name in needed:
                    open_at.setdefault(d.name, []).append(i)
        # 1. fulfil: each deadline name this event meets, the earliest open one.
        done = set()
        for name, trig in fulfils:
            if name in done or name not in open_at or not trig.matches(event):
                continue
            best = None
            for i in open_at[name]:
                d = deadlines[i]
                if d.opened_on <= day and (best is None or d.due < deadlines[best].due):
                    best = i
            if best is not None:
                d = deadlines[best]
                deadlines[best] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, day, None)
                open_at[name].remove(best)
                done.add(name)
        # 2. cancel what no longer applies in the new state (only a change of state can do that).
        if state_changed:
            for name, indices in open_at.items():
                for i in list(indices):
                    d = deadlines[i]
                    while_in = self._while_in.get((d.rule, d.name))
                    if while_in is not None and new_state not in while_in:
                        deadlines[i] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, None, day)
                        indices.remove(i)
        # 3. open: per name, the tightest of the rules that apply.
        if opens:
            ctx = Context(after, event, new_state)
            tightest: dict[str, tuple[date, DeadlineRule]] = {}
            for rule, trigs in opens:
                if rule.while_in is not None and new_state not in rule.while_in:
                    continue
                for t in trigs:
                    if t.matches(event):
                        break
                else:
                    continue
                if not rule.applies(ctx):
                    continue
                due = rule.due_for(ctx)
                if due is None:
                    continue
                best = tightest.get(rule.name)
                if best is None or due < best[0]:
                    tightest[rule.name] = (due, rule)
            for name, (due, rule) in tightest.items():
                for i in open_at.get(name, ()):
                    d = deadlines[i]  # superseded by the new occurrence
                    deadlines[i] = Deadline(d.name, d.due, d.rule, d.source, d.opened_on, None, day)
                deadlines.append(Deadline(name, due, rule.rule.id, rule.rule.source, day))
        return tuple(deadlines)


@lru_cache(maxsize=65536)
def _adulthood(birth_date: date) -> date:
    return birthday(birth_date, ADULTHOOD)


_FACT_FIELDS = tuple(a.name for a in CaseFacts.__attrs_attrs__)


def _evolve_facts(facts: CaseFacts, changes: dict) -> CaseFacts:
    """``attrs.evolve`` for the hot path: positional, no introspection."""
    return CaseFacts(*[changes[n] if n in changes else getattr(facts, n) for n in _FACT_FIELDS])


def _next_facts(facts: CaseFacts, event, spec, new_state: str) -> CaseFacts:
    """The lifecycle facts an accepted event establishes (no policy here)."""
    changes = {}
    name = event.event
    if name == "referral_received":
        changes.update(referral_date=event.date, referral_source=event.referral_source, primary_need=event.primary_need)
    elif name == "transfer_in":
        changes.update(referral_date=event.date)
    elif name == "assessment_completed" and event.primary_need is not None:
        changes.update(primary_need=event.primary_need)
    elif name == "manager_decision":
        changes.update(decisions=facts.decisions + (Decision(event.kind, event.date, event.role),))
    elif name == "supervision_order_made":
        changes.update(supervision_order_ends=event.ends_on)
    if spec.plan_origin is not None:
        changes.update(plan_required_on=event.date, plan_origin=spec.plan_origin, plan_started=None, review_chair=None)
        if spec.plan_origin != "supervision_order":
            changes.update(supervision_order_ends=None)
    if name == "cin_meeting":
        changes.update(last_meeting=event.date)
        if event.kind == "initial":
            changes.update(plan_started=event.date)
        if event.review_chair is not None:
            changes.update(review_chair=event.review_chair)
    if new_state in states.FINAL_STATES and spec.dest is not None:  # paperwork after the end changes nothing
        reason = spec.closure_reason
        if name == "case_closed":
            reason = event.reason if event.reason in CLOSURE_REASONS else "RC7"
        changes.update(closed_on=event.date, closure_reason=reason)
    return _evolve_facts(facts, changes) if changes else facts
