"""The record a lifecycle module uses to declare one transition."""

from __future__ import annotations

from attrs import field, frozen


def _frozen_when(value) -> tuple[tuple[str, frozenset], ...]:
    items = value.items() if isinstance(value, dict) else value
    return tuple(sorted((k, frozenset([v] if isinstance(v, (str, bool)) else v)) for k, v in items))


@frozen
class TransitionSpec:
    """``trigger`` moves a case from any of ``source`` to ``dest``.

    ``dest`` None is an internal transition (the state does not change).
    ``when`` selects this transition by the event's attributes, e.g.
    ``{"outcome": "cin_plan"}``; the first spec whose ``when`` matches wins.
    ``plan_origin`` marks a transition that makes a CIN plan required, and
    records why (``assessment``, ``cp_step_down``, ``transfer_in``);
    ``closure_reason`` is the CIN census reason code (RC1-RC9) an ending gets.
    """

    trigger: str
    source: tuple[str, ...] = field(converter=tuple)
    dest: str | None
    when: tuple[tuple[str, frozenset], ...] = field(default=(), converter=_frozen_when)
    plan_origin: str | None = None
    closure_reason: str | None = None
    note: str = ""

    def describe_when(self) -> str:
        return ", ".join(f"{k}={'|'.join(sorted(map(str, v)))}" for k, v in self.when)
