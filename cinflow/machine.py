"""The lifecycle as a ``transitions`` state machine: one machine per policy.

This machine is the reference oracle: the engine's fast path
(:meth:`cinflow.engine.Engine._fire`) resolves each (state, event) from the
same table with the same selector (:func:`selects`) and is tested to give
identical cases; ``Policy.reference()`` runs every event through this machine.

Cases are never attached to the machine (no ``add_model``, no machine per
case).  To apply an event the engine hands the machine a throwaway model
holding only ``state`` and an :class:`Attempt` carrying the case and event;
the transition's conditions select it by the event's attributes and ask the
policy's guards.  ``auto_transitions=False``: there is no ``to_<state>()``
back door past the rules.

The diagram (:func:`diagram`, mermaid text; :func:`svg` through Graphviz) is
drawn from the same lifecycle table, not through ``transitions``' graph
backend, so that endings common to every open state are drawn once.
"""

from __future__ import annotations

from transitions import Machine

from . import states


class CaseModel:
    """The minimal model the machine moves: just the state name."""

    __slots__ = ("state",)

    def __init__(self, state: str):
        self.state = state


_NOTHING_DECIDED: dict = {}  # shared; an attempt's ``decided`` is never written after it is made


class Attempt:
    """One event being tried against one case (mutable, short-lived)."""

    __slots__ = ("case", "event", "decided", "reasons", "spec", "advice", "used")

    def __init__(self, case, event, decided: dict | None = None):
        self.case = case
        self.event = event
        self.decided = decided or _NOTHING_DECIDED
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


def lifecycle(policy) -> dict:
    """The lifecycle as ``policy`` runs it, as data (``cinflow diagram ID
    --format json``): every state, and every edge with the event that takes
    it, the attribute values that select it and the policy rules checked on
    it (guards, chair rules, consent routes).  Internal events (visits,
    paperwork) do not move a case and are not edges; a consent route the
    policy never takes is left out."""
    edges = []
    for spec in _moving(policy):
        every = frozenset(spec.source) == states.OPEN_STATES
        rules = _edge_rules(policy, spec)
        for source in spec.source:
            edges.append({"from": source, "to": spec.dest, "event": spec.trigger,
                          "when": {k: sorted(map(str, v)) for k, v in spec.when}, "rules": rules,
                          "from_every_open_state": every})
    return {
        "policy": policy.id,
        "title": policy.info.title,
        "initial": states.INITIAL,
        "states": [{"id": name, "description": text, "open": name in states.OPEN_STATES,
                    "final": name in states.FINAL_STATES} for name, text in states.STATES.items()],
        "edges": edges,
    }


def _moving(policy):
    for spec in states.TRANSITIONS:
        if spec.dest is None:
            continue  # internal events (visits, paperwork) do not move the case
        if spec.trigger == "consent_refused" and not any(r.dest == spec.dest for r in _reachable_routes(policy)):
            continue  # a route this policy never takes
        yield spec


class _Edge:
    """One drawn edge: transitions of one event between two states, merged."""

    def __init__(self, source, dest, trigger, when, rules):
        self.source, self.dest, self.trigger = source, dest, trigger
        self.when = {k: list(v) for k, v in when}
        self.rules = list(rules)
        self.number = None  # its line in the legend, when rules are checked on it

    def merge(self, when, rules) -> bool:
        """Take in another transition of the same event between the same
        states if it differs in at most one attribute (``outcome=a|b``)."""
        other = {k: list(v) for k, v in when}
        if set(other) != set(self.when):
            return False
        differ = [k for k in other if set(other[k]) != set(self.when[k])]
        if len(differ) > 1:
            return False
        for k in differ:
            self.when[k] += [v for v in other[k] if v not in self.when[k]]
        self.rules += [r for r in rules if r not in self.rules]
        return True

    @property
    def label(self) -> str:
        """The event and what selects it: ``cin_meeting (kind=review, outcome=close)``."""
        if not self.when:
            return self.trigger
        picks = ", ".join(f"{k}={'|'.join(map(str, v))}" for k, v in self.when.items())
        return f"{self.trigger} ({picks})"


def _drawing(policy):
    """What a drawing shows: the edges between states, and the transitions
    every open state has (the endings, a strategy discussion), drawn once
    from the group of open states, each as (event label, dest, rules)."""
    edges: dict[tuple, list[_Edge]] = {}
    every: list[_Edge] = []
    for spec in _moving(policy):
        rules = _edge_rules(policy, spec)
        if frozenset(spec.source) == states.OPEN_STATES:
            every.append(_Edge("open", spec.dest, spec.trigger, spec.when, rules))
            continue
        for source in spec.source:
            group = edges.setdefault((source, spec.dest, spec.trigger), [])
            if not any(e.merge(spec.when, rules) for e in group):
                group.append(_Edge(source, spec.dest, spec.trigger, spec.when, rules))
    order = {name: i for i, name in enumerate(states.STATES)}
    drawn = sorted((e for group in edges.values() for e in group), key=lambda e: order[e.source])
    # What every open state can do, one edge per destination: the endings
    # leave the group; one that stays in it (a strategy discussion) is said
    # in the group's name instead, as an arrow from a group to its own member
    # draws badly.
    leaving: dict[str, _Edge] = {}
    staying = []
    for e in every:
        if e.dest in states.OPEN_STATES:
            staying.append(e)
        elif e.dest in leaving:
            joined = leaving[e.dest]
            joined.trigger = f"{joined.label}, {e.label}"
            joined.when = {}
            joined.rules += [r for r in e.rules if r not in joined.rules]
        else:
            leaving[e.dest] = e
    every = list(leaving.values())
    numbered = [e for e in drawn + every + staying if e.rules]
    for i, e in enumerate(numbered, 1):
        e.number = i
    return drawn, every, staying


def _group_name(staying) -> str:
    also = "; ".join(f"{e.label} from any of them leads to {e.dest}" for e in staying)
    return "open states" + (f" ({also})" if also else "")


def _title(policy) -> str:
    return f"{policy.id}: {policy.info.title}"


def diagram(policy) -> str:
    """The lifecycle as ``policy`` runs it, as mermaid ``stateDiagram-v2``
    text.  The open states are one group; what every open state can do (the
    endings: looked after, died, moved abroad, closed, 18th birthday; a
    strategy discussion) is drawn once, from the group.  Each edge is labelled
    with its event and what selects it; the policy rules checked on it
    (guards, chair rules, consent routes) follow it as a ``%%`` comment."""
    drawn, every, staying = _drawing(policy)
    title = _title(policy).replace('"', "'")
    lines = ["---", f'title: "{title}"', "---", "stateDiagram-v2", "  direction LR",
             f'  state "{_group_name(staying)}" as open {{']
    lines += [f"    {name}" for name in states.STATES if name in states.OPEN_STATES]
    lines += ["  }", f"  [*] --> {states.INITIAL}"]
    for e in staying:
        if e.rules:
            lines.append(f"  %% {e.label} (any open state to {e.dest}): rules checked: {', '.join(e.rules)}")
    for e in drawn + every:
        lines.append(f"  {e.source} --> {e.dest}: {e.label}")
        if e.rules:
            lines.append(f"  %% rules checked: {', '.join(e.rules)}")
    return "\n".join(lines)


def dot(policy) -> str:
    """The lifecycle as Graphviz DOT text: the same drawing as
    :func:`diagram` (open states grouped, what every open state can do drawn
    once), each state with its meaning, each edge labelled with its event,
    what selects it and a number; the numbered legend lists the policy rules
    checked on each edge.  ``dot -Tsvg`` draws it (:func:`svg`)."""
    import textwrap
    from html import escape

    drawn, every, staying = _drawing(policy)

    def node(name):
        words = "<BR/>".join(escape(line) for line in textwrap.wrap(states.STATES[name], 26))
        final = name in states.FINAL_STATES
        colour = "#e8e8e8" if final else "#e6efff"
        return (f'  {name} [label=<<B>{escape(name)}</B><BR/><FONT POINT-SIZE="9">{words}</FONT>>, '
                f'fillcolor="{colour}"{", peripheries=2" if final else ""}];')

    def label(e):
        return escape(e.label + (f" [{e.number}]" if e.number else ""), quote=True)

    title = escape(_title(policy))
    doc = policy.info.document_title or policy.info.document or ""
    subtitle = f'<BR/><FONT POINT-SIZE="11">{escape(doc)}</FONT>' if doc else ""
    lines = [
        f'digraph "{_title(policy).replace(chr(34), chr(39))}" {{',
        f'  graph [rankdir=TB, compound=true, labelloc=t, fontname="Helvetica", fontsize=20, nodesep=0.25, '
        f'ranksep=0.5, label=<<B>{title}</B>{subtitle}>];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
        '  start [shape=point, width=0.15, label=""];',
        f"  start -> {states.INITIAL};",
        "  subgraph cluster_open {",
        f'    label="{escape(_group_name(staying), quote=True)}"; style="rounded,dashed"; color="#4466aa"; '
        'fontname="Helvetica"; fontsize=11;',
    ]
    lines += ["  " + node(name) for name in states.STATES if name in states.OPEN_STATES]
    lines.append("  }")
    lines += [node(name) for name in states.STATES if name not in states.OPEN_STATES]
    for e in drawn:
        lines.append(f'  {e.source} -> {e.dest} [label="{label(e)}"];')
    anchor_state = next(name for name in reversed(states.STATES) if name in states.OPEN_STATES)
    for e in every:
        lines.append(f'  {anchor_state} -> {e.dest} [ltail=cluster_open, label="{label(e)}", '
                     'color="#aa3333", fontcolor="#aa3333", penwidth=1.5];')
    numbered = [e for e in drawn + every + staying if e.number]
    if numbered:
        rows = ['<TR><TD COLSPAN="3"><B>Rules checked on each edge</B></TD></TR>']
        for e in numbered:
            where = "any open state" if e.source == "open" else e.source
            rows.append(f'<TR><TD ALIGN="RIGHT">{e.number}</TD><TD ALIGN="LEFT">{escape(where)} &#8594; '
                        f'{escape(e.dest)}: {escape(e.label)}</TD>'
                        f'<TD ALIGN="LEFT" BALIGN="LEFT">{"<BR/>".join(map(escape, textwrap.wrap(", ".join(e.rules), 70)))}</TD></TR>')
        lines.append(f'  legend [shape=plaintext, style="", fontsize=9, label=<<TABLE BORDER="0" CELLBORDER="1" '
                     f'CELLSPACING="0" CELLPADDING="3">{"".join(rows)}</TABLE>>];')
        lines.append("  { rank=sink; legend; }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(policy) -> str:
    """The lifecycle drawn as SVG by Graphviz's ``dot`` (Debian: ``apt-get
    install graphviz``); no network, no browser needed."""
    import re
    import shutil
    import subprocess

    from .errors import CinflowError

    program = shutil.which("dot")
    if program is None:
        raise CinflowError("drawing SVG needs Graphviz's dot program (Debian: apt-get install graphviz); "
                           "the mermaid text needs nothing")
    done = subprocess.run([program, "-Tsvg"], input=dot(policy), capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or "<svg" not in done.stdout:
        problem = " ".join(done.stderr.split())[:300]
        raise CinflowError(f"Graphviz's dot could not draw the diagram: {problem or 'no output'}")
    # No DTD to fetch: the drawing is complete in itself.
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", done.stdout, count=1)


def _reachable_routes(policy):
    """Consent routes in the order they are tried, up to the first that always applies."""
    from .rules import ALWAYS

    for route in policy.consent_routes:
        yield route
        if route.applies is ALWAYS:
            return


def _edge_rules(policy, spec) -> list[str]:
    """The policy rules checked on the transition ``spec``."""
    labels = []
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
