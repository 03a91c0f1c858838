"""The lifecycle as a ``transitions`` state machine: one machine per policy.

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

    __slots__ = ("case", "event", "decided", "reasons", "spec")

    def __init__(self, case, event, decided: dict | None = None):
        self.case = case
        self.event = event
        self.decided = decided or {}
        self.reasons: list = []
        self.spec = None

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


def _selector(spec):
    def selected(event_data) -> bool:
        attempt = event_data.kwargs["attempt"]
        return all(attempt.value(name) in allowed for name, allowed in spec.when)

    return selected


def _guard(spec, check):
    def allowed(event_data) -> bool:
        return check(event_data.kwargs["attempt"], spec)

    return allowed


def _chosen(spec):
    def record(event_data) -> None:
        event_data.kwargs["attempt"].spec = spec

    return record


def mermaid(machine_title: str = "CIN lifecycle") -> str:
    """The lifecycle as mermaid ``stateDiagram-v2`` text."""
    lines = ["stateDiagram-v2", f"    %% {machine_title}", f"    [*] --> {states.INITIAL}"]
    seen = set()
    for spec in states.TRANSITIONS:
        if spec.dest is None:
            continue
        label = spec.trigger + (f" [{spec.describe_when()}]" if spec.when else "")
        for source in spec.source:
            key = (source, spec.dest, label)
            if key not in seen:
                seen.add(key)
                lines.append(f"    {source} --> {spec.dest}: {label}")
    for final in sorted(states.FINAL_STATES):
        lines.append(f"    {final} --> [*]")
    return "\n".join(lines)
