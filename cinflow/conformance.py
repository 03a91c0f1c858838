"""The conformance checks every policy, bundled or third-party, must pass.

``check_policy(registry, policy_id)`` returns a list of problems (empty when
the policy conforms).  Run them with ``cinflow policies check`` or from a
plugin's own tests::

    from cinflow.conformance import check_policy
    assert check_policy(Registry.load(), "my-council") == []
"""

from __future__ import annotations

import re
import typing
from datetime import date
from itertools import chain

from . import states
from .errors import CinflowError
from .events import EVENT_TYPES
from .rules import ChairRule, DeadlineRule, Guard, RuleInfo
from .vocabulary import MEETING_OUTCOMES, ROLES

KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# Start dates the timescale comparison tries: every month of four years, so
# bank holidays, Easter, Christmas and month ends are all crossed.
SAMPLE_STARTS = tuple(date(y, m, d) for y in range(2024, 2028) for m in range(1, 13) for d in (1, 15, 28))


def check_policy(registry, policy_id: str) -> list[str]:
    """Every way ``policy_id`` fails the conformance rules."""
    if not KEBAB.match(policy_id):
        return [f"policy id {policy_id!r} is not kebab-case"]
    try:
        policy = registry[policy_id]
    except CinflowError as exc:  # misspelt hooks, bad return types, broken policy.yaml
        return [str(exc)]
    problems: list[str] = []
    objects = list(chain(policy.guards, policy.chair_rules, policy.consent_routes, policy.deadline_rules))
    used = {o.rule.id for o in objects}
    rules = {r.id: r for r in chain(chain.from_iterable(policy.rulebooks), (o.rule for o in objects))}
    for rule in rules.values():
        problems += _check_rule(rule, policy.layer_ids, used)
    for obj in objects:
        problems += _check_object(obj)
    problems += _check_not_looser(registry, policy)
    return problems


def _check_rule(rule: RuleInfo, layer_ids, used) -> list[str]:
    out = []
    prefix, _, short = rule.id.partition(".")
    if prefix not in layer_ids or not short:
        out.append(f"{rule.id}: rule id is not '<policy>.<rule>' for a layer of this policy")
    if not rule.citation.document.strip() or not rule.citation.section.strip():
        out.append(f"{rule.id}: no citation (document and section are both required)")
    if not rule.text.strip():
        out.append(f"{rule.id}: no text saying what the rule requires")
    if rule.id in used and rule.not_enforced:
        out.append(f"{rule.id}: marked not_enforced but a hook enforces it")
    if rule.id not in used and not rule.not_enforced:
        out.append(f"{rule.id}: no hook enforces it; enforce it or say why not (not_enforced)")
    if not rule.words:
        out.append(f"{rule.id}: states no level: give level (must, should or advice) and the words of the source "
                   "it rests on (words)")
    for key in ("roles", "decision_roles"):
        for role in rule.params.get(key, ()):
            if role not in ROLES:
                out.append(f"{rule.id}: unknown role {role!r} in {key} (known: {', '.join(ROLES)})")
    for outcome in rule.params.get("outcomes", ()):
        if outcome not in MEETING_OUTCOMES:
            out.append(f"{rule.id}: unknown meeting outcome {outcome!r} (known: {', '.join(MEETING_OUTCOMES)})")
    return out


def _check_trigger(rule_id: str, trig) -> list[str]:
    cls = EVENT_TYPES.get(trig.event)
    if cls is None:
        return [f"{rule_id}: unknown event {trig.event!r}"]
    out = []
    fields = {a.name: a for a in cls.__attrs_attrs__}
    hints = typing.get_type_hints(cls)
    for name, allowed in trig.when:
        if name not in fields:
            out.append(f"{rule_id}: event {trig.event} has no attribute {name!r}")
            continue
        choices = _literal_values(hints[name])
        if choices is not None:
            for value in allowed:
                if value not in choices:
                    out.append(f"{rule_id}: {trig.event}.{name} is never {value!r} (one of {', '.join(map(str, choices))})")
    return out


def _literal_values(hint):
    for arg in (hint, *typing.get_args(hint)):
        if typing.get_origin(arg) is typing.Literal:
            return typing.get_args(arg)
    return None


def _check_object(obj) -> list[str]:
    rid = obj.rule.id
    out = []
    if isinstance(obj, Guard):
        out += [f"{rid}: guard on unknown event {e!r}" for e in sorted(obj.events) if e not in EVENT_TYPES]
    elif isinstance(obj, ChairRule):
        out += [f"{rid}: unknown chair role {r!r}" for r in obj.roles if r not in ROLES]
        out += [f"{rid}: unknown meeting kind {k!r}" for k in sorted(obj.kinds) if k not in ("initial", "review")]
    elif isinstance(obj, DeadlineRule):
        for trig in chain(obj.opens_on, obj.fulfilled_by):
            out += _check_trigger(rid, trig)
        for state in sorted(obj.while_in or ()):
            if state not in states.STATES:
                out.append(f"{rid}: deadline {obj.name!r} names unknown state {state!r}")
    return out


def _check_not_looser(registry, policy) -> list[str]:
    """No local deadline may be looser than the national one of the same name."""
    if policy.layer_ids == ("england",):
        return []
    national = {}
    for r in registry["england"].deadline_rules:
        national.setdefault(r.name, []).append(r)
    out = []
    for r in policy.deadline_rules:
        if r.rule.id.startswith("england.") or r.name not in national or r.rule.timescale is None:
            continue
        for base in national[r.name]:
            for start in SAMPLE_STARTS:
                ours, theirs = r.rule.timescale.add_to(start), base.rule.timescale.add_to(start)
                if theirs is not None and (ours is None or ours > theirs):
                    out.append(f"{r.rule.id}: deadline {r.name!r} from {start.isoformat()} is due "
                               f"{ours.isoformat() if ours else 'never'}, later than the national {base.rule.id} "
                               f"({theirs.isoformat()})")
                    break
    return out
