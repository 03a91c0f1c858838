"""A policy assembled from its plugin layers.

Hooks are called once here and what they return is checked and indexed by
event name (chair rules compiled into ordinary guards); per event the engine
(:mod:`cinflow.engine`) only looks things up.
"""

from __future__ import annotations

from itertools import chain

from . import states
from .calendar import add_period, england
from .engine import SENIORITY, Engine, exception_roles
from .errors import PluginError
from .events import EVENT_TYPES
from .machine import build_machine, selects
from .plugins import call_hook
from .models import needs_exception
from .rules import ALWAYS, ChairRule, ConsentRoute, DeadlineRule, Guard, PolicyInfo, RuleInfo, Trigger


class Policy(Engine):
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
        # Each hook once; an implementation that raises is one line naming its plugin.
        def hook(name):
            return chain.from_iterable(call_hook(pm, name, info))

        self.guards: tuple[Guard, ...] = tuple(hook("transition_guards"))
        self.deadline_rules: tuple[DeadlineRule, ...] = tuple(hook("deadline_rules"))
        self.chair_rules: tuple[ChairRule, ...] = tuple(hook("chair_rules"))
        routes = hook("consent_refusal_routes")
        # The top layer's routes first, then down to the national baseline.
        self.consent_routes: tuple[ConsentRoute, ...] = tuple(
            sorted(routes, key=lambda r: -self._layer_of(r.rule))
        )
        self._check_objects()
        # Every rule of every layer by id (rule books and hook objects).
        self.rule_index: dict[str, RuleInfo] = {}
        for book in self.rulebooks:
            for rule in book:
                self.rule_index.setdefault(rule.id, rule)
        for rule in self.rules():
            self.rule_index.setdefault(rule.id, rule)
        self.decision_kinds, self.known_roles = self._vocabulary()
        # For each decision kind, the rules that count it only from certain roles.
        self.decision_roles: dict[str, tuple[RuleInfo, ...]] = {}
        for rule in self.rule_index.values():
            if rule.params.get("decision") and rule.params.get("decision_roles"):
                kind = rule.params["decision"]
                self.decision_roles[kind] = self.decision_roles.get(kind, ()) + (rule,)

        # One loop per event: chair rules run as guards on cin_meeting.
        checks = self.guards + tuple(r.as_guard() for r in self.chair_rules)
        # The rules an exception can open: a should that some guard enforces
        # (a deadline is never refused, so an exception cannot change it).
        self.exceptionable = frozenset(g.rule.id for g in checks if g.rule.level == "should")
        self._guards_by_event: dict[str, tuple[Guard, ...]] = {}
        for g in checks:
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
        self._compile_fast_path()

    def _compile_fast_path(self) -> None:
        """Per-event work done once: for each (state, event), its transitions
        in the machine's order, each with the guards that apply to its
        destination as plain tuples; for each event the deadlines it
        fulfils, and for each (event, new state) the deadline rules that
        open one there, with their due dates as plain functions where the
        rule allows.  The engine's fast path (``Engine._fire``,
        ``Engine._next_deadlines_fast``) reads only these; the reference
        path (``reference()``) reads none of them."""
        def compiled(g: Guard) -> tuple:
            rule = g.rule
            exception = needs_exception(rule.id, exception_roles(rule)) if rule.level == "should" else None
            return (g.check, g, rule.id, rule.level, rule.source, exception)

        guards = {name: tuple((g, compiled(g)) for g in gs) for name, gs in self._guards_by_event.items()}
        self._compiled: dict[tuple[str, str], tuple] = {}
        for (state, name), specs in self._table.items():
            self._compiled[(state, name)] = tuple(
                (spec, selector(spec), spec.dest or state,
                 tuple(c for g, c in guards.get(name, ()) if g.dests is None or (spec.dest or state) in g.dests))
                for spec in specs)
        self._fast_fulfils: dict[str, tuple] = {
            name: tuple((deadline, matcher(trig)) for deadline, trig in pairs) for name, pairs in self._fulfils.items()}
        self._fast_opens: dict[tuple[str, str], tuple] = {}
        for name, pairs in self._opens.items():
            for state in states.STATES:
                rows = []
                for rule, trigs in pairs:
                    if rule.while_in is not None and state not in rule.while_in:
                        continue
                    matchers = tuple(matcher(t) for t in trigs)
                    rows.append((rule.name, None if None in matchers else matchers,
                                 None if rule.applies is ALWAYS else rule.applies, due_function(rule), rule,
                                 rule.reopen, rule.rule.id, rule.rule.source))
                if rows:
                    self._fast_opens[(name, state)] = tuple(rows)

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

    def _vocabulary(self) -> tuple[frozenset, frozenset]:
        """The manager_decision kinds and roles some rule of this policy knows
        (``exception`` always): anything else is bad input."""
        kinds, roles = {"exception"}, set(SENIORITY)
        for rule in self.rule_index.values():
            for key in ("decision", "alternative"):
                if rule.params.get(key):
                    kinds.add(rule.params[key])
            for key in ("roles", "decision_roles"):
                roles.update(rule.params.get(key) or ())
            roles.update(rule.exception_roles or ())
        for r in self.deadline_rules:
            for t in r.fulfilled_by + r.opens_on:
                if t.event == "manager_decision":
                    when = dict(t.when)
                    kinds.update(when.get("kind", ()))
                    roles.update(when.get("role", ()))
        return frozenset(kinds), frozenset(roles)

    def _check_objects(self) -> None:
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
            for state in r.while_in or ():
                if state not in states.STATES:
                    raise PluginError(f"{r.rule.id}: deadline {r.name!r} applies while in unknown state {state!r}")
            for t in r.opens_on + r.fulfilled_by:
                _check_trigger(r.rule, t)
        for g in self.guards:
            for name in g.events:
                if name not in EVENT_TYPES:
                    raise PluginError(f"{g.rule.id}: guard on unknown event {name!r} (known: {', '.join(sorted(EVENT_TYPES))})")
            for state in g.dests or ():
                if state not in states.STATES:
                    raise PluginError(f"{g.rule.id}: guard for unknown state {state!r}")
        for c in self.chair_rules:
            if not c.kinds <= {"initial", "review"}:
                raise PluginError(f"{c.rule.id}: chair rule for unknown meeting kind {sorted(c.kinds - {'initial', 'review'})[0]!r}")
            if not c.rule.params.get("roles"):
                raise PluginError(f"{c.rule.id}: chair rule without roles (params: roles)")
        for rule in (o.rule for o in chain(self.guards, self.chair_rules, self.consent_routes, self.deadline_rules)):
            if rule.level not in ("must", "should", "advice"):
                raise PluginError(f"{rule.id}: level {rule.level!r} is not must, should or advice")

    def rules(self) -> list[RuleInfo]:
        """Every rule this policy enforces, each once, in layer order."""
        seen: dict[str, RuleInfo] = {}
        for obj in chain(self.guards, self.chair_rules, self.consent_routes, self.deadline_rules):
            seen.setdefault(obj.rule.id, obj.rule)
        return sorted(seen.values(), key=lambda r: (self._layer_of(r), r.id))

    def cite(self, source: str) -> str:
        """A citation (a refusal's, advice's or deadline's ``source``: the
        document's file name and the section) as a practitioner reads it:
        the document's author, title and date, then the section."""
        from .catalogue import cite, documents

        if "_documents" not in self.__dict__:
            self._documents = documents(self)
        return cite(self, source, self._documents)


def selector(spec):
    """``machine.selects(spec, attempt)`` as a plain function of the
    attempt; None when the transition has no ``when`` (it always matches)."""
    if not spec.when:
        return None
    if len(spec.when) == 1:
        ((name, allowed),) = spec.when

        def one(attempt):
            decided = attempt.decided
            return (decided[name] if name in decided else getattr(attempt.event, name, None)) in allowed

        return one
    return lambda attempt: selects(spec, attempt)


def matcher(trig):
    """A trigger's ``matches`` as a plain function of the event; None when
    every event it names matches (no attributes to look at)."""
    if type(trig) is not Trigger:
        return trig.matches  # a plugin's own kind of trigger: ask it
    if not trig.when:
        return None
    when = trig.when
    if len(when) == 1:
        ((name, allowed),) = when
        return lambda ev: getattr(ev, name, None) in allowed
    return trig.matches


def due_function(rule: DeadlineRule):
    """``rule.due_for`` as a plain function of the event, for the rules whose
    due date depends only on the event (no ``start``, a timescale of one
    version or none); None for the rest (the engine asks ``rule.due_for``)."""
    if type(rule) is not DeadlineRule or rule.start is not None:
        return None
    ts = rule.rule.timescale
    if ts is None:
        def base(day):
            return None
    elif len(ts.versions) == 1:
        valid_from, amount, unit = ts.versions[0].valid_from, ts.versions[0].amount, ts.unit
        if amount is None:
            def base(day):
                return None
        elif unit == "working_days":
            add = england().add

            def base(day):
                return add(day, amount) if valid_from <= day else None
        else:
            def base(day):
                return add_period(day, amount, unit) if valid_from <= day else None
    else:
        return None
    agreed_attr = rule.agreed_attr
    if not agreed_attr:
        return lambda ev: base(ev.date)

    def due(ev):
        due = base(ev.date)
        agreed = getattr(ev, agreed_attr, None)
        if agreed is not None and (due is None or agreed < due):
            return agreed
        return due

    return due


def _check_trigger(rule: RuleInfo, trig) -> None:
    """A trigger names a real event and only attributes (and, for closed
    vocabularies, values) that event has."""
    import typing

    cls = EVENT_TYPES.get(trig.event)
    if cls is None:
        raise PluginError(f"{rule.id}: trigger on unknown event {trig.event!r}")
    fields = {a.name: a for a in cls.__attrs_attrs__}
    hints = typing.get_type_hints(cls)
    for name, allowed in trig.when:
        if name not in fields:
            raise PluginError(f"{rule.id}: trigger {trig.describe()}: {trig.event} has no attribute {name!r}")
        literals = {a for arg in (typing.get_args(hints[name]) or (hints[name],)) for a in (typing.get_args(arg) or ())}
        if typing.get_origin(hints[name]) is typing.Literal:
            literals = set(typing.get_args(hints[name]))
        if literals and not set(allowed) <= literals:
            bad = sorted(map(str, set(allowed) - literals))[0]
            raise PluginError(f"{rule.id}: trigger {trig.describe()}: {bad!r} is not a value of {name}")
