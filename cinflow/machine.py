"""The lifecycle as a ``transitions`` state machine: one machine per policy.

This machine is the reference oracle and the diagram: the engine's fast path
(:meth:`cinflow.engine.Engine._fire`) resolves each (state, event) from the
same table with the same selector (:func:`selects`) and is tested to give
identical cases; ``Policy.reference()`` runs every event through this machine.

Cases are never attached to the machine (no ``add_model``, no machine per
case).  To apply an event the engine hands the machine a throwaway model
holding only ``state`` and an :class:`Attempt` carrying the case and event;
the transition's conditions select it by the event's attributes and ask the
policy's guards.  ``auto_transitions=False``: there is no ``to_<state>()``
back door past the rules.
"""

from __future__ import annotations

from transitions import Machine

from . import states


class CaseModel:
    """The minimal model the machine moves: just the state name."""

    __slots__ = ("state",)

    def __init__(self, state: str):
        self.state = state


class Attempt:
    """One event being tried against one case (mutable, short-lived)."""

    __slots__ = ("case", "event", "decided", "reasons", "spec", "advice", "used")

    def __init__(self, case, event, decided: dict | None = None):
        self.case = case
        self.event = event
        self.decided = decided or {}
        self.reasons: list = []
        self.spec = None
        self.advice = ()   # advice from rules at level advice (a list once there is any)
        self.used = ()     # pending exceptions this event uses up

    def value(self, name: str):
        if name in self.decided:
            return self.decided[name]
        return getattr(self.event, name, None)


def build_machine(check) -> Machine:
    """A machine over :data:`cinflow.states.TRANSITIONS` whose every
    transition is guarded by ``check(attempt, spec) -> bool``."""
    machine = Machine(
        model=None,
        states=list(states.STATES),
        initial=states.INITIAL,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for spec in states.TRANSITIONS:
        machine.add_transition(
            spec.trigger,
            list(spec.source),
            spec.dest,
            conditions=[_selector(spec), _guard(spec, check)],
            after=_chosen(spec),
        )
    return machine


def selects(spec, attempt: Attempt) -> bool:
    """Whether ``spec`` is the transition for this attempt: its ``when``
    matches the event's attributes (and what the policy decided, such as the
    consent route).  The machine's conditions and the engine's fast path both
    ask this one function."""
    for name, allowed in spec.when:
        if attempt.value(name) not in allowed:
            return False
    return True


def _selector(spec):
    def selected(event_data) -> bool:
        return selects(spec, event_data.kwargs["attempt"])

    return selected


def _guard(spec, check):
    def allowed(event_data) -> bool:
        return check(event_data.kwargs["attempt"], spec)

    return allowed


def _chosen(spec):
    def record(event_data) -> None:
        event_data.kwargs["attempt"].spec = spec

    return record


def diagram(policy) -> str:
    """The lifecycle as ``policy`` runs it, as mermaid ``stateDiagram-v2``
    text drawn by transitions' mermaid backend (no Graphviz).  Each edge names
    what selects it and the policy rules checked on it: guards, chair rules
    and consent routes."""
    from transitions.extensions import GraphMachine

    class _Drawing:
        pass

    model = _Drawing()
    machine = GraphMachine(
        model=model, states=list(states.STATES), initial=states.INITIAL, auto_transitions=False,
        graph_engine="mermaid", show_conditions=True, show_state_attributes=False,
        title=f"{policy.id}: {policy.info.title}",
    )
    for spec in states.TRANSITIONS:
        if spec.dest is None:
            continue  # internal events (visits, paperwork) do not move the case
        if spec.trigger == "consent_refused" and not any(r.dest == spec.dest for r in _reachable_routes(policy)):
            continue  # a route this policy never takes
        machine.add_transition(spec.trigger, list(spec.source), spec.dest, conditions=_edge_labels(policy, spec))
    lines = model.get_graph().draw(None).splitlines()
    # Drop the live-model styling: a drawing has no current state.
    return "\n".join(line for line in lines if not line.strip().startswith(("classDef", "Class ")))


def _reachable_routes(policy):
    """Consent routes in the order they are tried, up to the first that always applies."""
    from .rules import ALWAYS

    for route in policy.consent_routes:
        yield route
        if route.applies is ALWAYS:
            return


def _edge_labels(policy, spec) -> list[str]:
    labels = [spec.describe_when()] if spec.when else []
    when = dict(spec.when)
    for guard in policy.guards:
        if spec.trigger in guard.events and (guard.dests is None or spec.dest in guard.dests):
            labels.append(guard.rule.id)
    if spec.trigger == "cin_meeting":
        kinds = when.get("kind", frozenset())
        labels += [r.rule.id for r in policy.chair_rules if r.kinds & kinds]
    if spec.trigger == "consent_refused":
        labels += [r.rule.id for r in _reachable_routes(policy) if r.dest == spec.dest]
    return list(dict.fromkeys(labels))
