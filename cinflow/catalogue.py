"""A policy's rule catalogue, generated from the assembled plugin.

Every rule in every layer's ``policy.yaml``, plus any rule a hook returned
that has no rule book, with its parameters, its citation and how the engine
enforces it (read from the very objects the hooks returned), so the catalogue
cannot drift from what runs.
"""

from __future__ import annotations

from itertools import chain

from .rules import ALWAYS, ChairRule, ConsentRoute, DeadlineRule, Guard, RuleInfo
from .engine import exception_roles
from .vocabulary import roles_in_words


def _triggers(triggers) -> str:
    return ", ".join(t.describe() for t in triggers)


def enforcement(obj) -> str:
    """How one hook object enforces its rule, in words."""
    when = "" if getattr(obj, "applies", ALWAYS) is ALWAYS else f" when {obj.applies.text}"
    if isinstance(obj, Guard):
        events = ", ".join(sorted(obj.events))
        level = obj.rule.level
        if level == "advice":
            return f"advice on {events}: the event is accepted and carries advice while the rule is not followed"
        if level == "should":
            return (f"guard on {events} (comply or explain): refused while the rule is not met, unless an "
                    "authorised exception was recorded first")
        return f"guard on {events}: the event is refused while the rule is not met"
    if isinstance(obj, ChairRule):
        kinds = "/".join(sorted(obj.kinds))
        if obj.rule.level == "should":
            return (f"chair rule (comply or explain): {kinds} meetings are to be chaired by {roles_in_words(obj.roles)}"
                    f"{when}, unless an authorised exception was recorded first")
        return f"chair rule: {kinds} meetings must be chaired by {roles_in_words(obj.roles)}{when}"
    if isinstance(obj, ConsentRoute):
        return f"consent route: refused consent leads to '{obj.dest}'{when}"
    if isinstance(obj, DeadlineRule):
        text = f"deadline '{obj.name}' opened by {_triggers(obj.opens_on)}{when}; met by {_triggers(obj.fulfilled_by)}"
        if obj.agreed_attr:
            text += f"; an earlier {obj.agreed_attr} agreed on the event is used instead"
        if obj.while_in is not None:
            text += f"; stops applying if the case leaves {', '.join(sorted(obj.while_in))} (missed if past due)"
        return text
    return type(obj).__name__


def catalogue(policy) -> dict:
    """The catalogue of ``policy`` as plain data (the JSON the CLI prints)."""
    enforced: dict[str, list[str]] = {}
    loose: dict[str, RuleInfo] = {}
    for obj in chain(policy.guards, policy.chair_rules, policy.consent_routes, policy.deadline_rules):
        enforced.setdefault(obj.rule.id, []).append(enforcement(obj))
        loose.setdefault(obj.rule.id, obj.rule)
    rules: list[RuleInfo] = []
    for book in policy.rulebooks:
        rules.extend(book)
    listed = {r.id for r in rules}
    rules.extend(r for rid, r in loose.items() if rid not in listed)
    return {
        "policy": {
            "id": policy.id,
            "title": policy.info.title,
            "description": policy.info.description,
            "document": policy.info.document,
            "document_title": policy.info.document_title,
            "document_date": policy.info.document_date.isoformat() if policy.info.document_date else None,
            "last_reviewed": policy.info.last_reviewed.isoformat() if policy.info.last_reviewed else None,
            "layers": list(policy.layer_ids),
        },
        "rules": [
            {
                "id": r.id,
                "text": r.text,
                "parameters": r.parameters(),
                "citation": {"document": r.citation.document, "section": r.citation.section},
                "enforced_as": enforced.get(r.id, []),
                "not_enforced": r.not_enforced,
                "level": r.level,
                "words": r.words,
                "raised": r.raised,
                "exception_roles": list(exception_roles(r)) if r.id in policy.exceptionable else None,
            }
            for r in rules
        ],
    }
