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


def documents(policy) -> dict[str, dict]:
    """Every document ``policy``'s rules can cite, by the name the rules cite
    it by (often a seed's file name): its ``title``, ``author`` and ``date``
    as a practitioner would name it.  From each layer's POLICY (the lowest
    layer naming a document wins: a shared guidance stays its author's) and
    the other documents each layer says it ``cites``."""
    out: dict[str, dict] = {}
    infos = [layer.POLICY for layer in policy.layers]
    for info in infos:
        if info.document and info.document not in out:
            titled = bool(info.document_title)  # else the document is named by its title
            out[info.document] = {"title": info.document_title if titled else info.document,
                                  "author": info.title if titled else None, "date": info.document_date}
    for info in infos:
        for doc in info.cites:
            out.setdefault(doc.file, {"title": doc.title, "author": doc.author, "date": doc.date})
    return out


def _when(day) -> str:
    if day is None:
        return "undated"
    return day.strftime("%B %Y") if day.day == 1 else f"{day.day} {day.strftime('%B %Y')}"


def document_name(doc: dict) -> str:
    """``Kent County Council, Child in Need Plans ... (February 2023)``."""
    return (f"{doc['author']}, " if doc["author"] else "") + f"{doc['title']} ({_when(doc['date'])})"


def cite(policy, source: str, known: dict | None = None) -> str:
    """A rule's citation (``Reason.source``, ``Deadline.source``: the
    document as the rules name it, then the section) as a practitioner reads
    it: the document's author, title and date, then the section.  A document
    the policy does not describe is left as it is."""
    known = documents(policy) if known is None else known
    match = max((name for name in known if source == name or source.startswith(name + " ")), key=len, default=None)
    if match is None:
        return source
    section = source[len(match):].strip()
    return document_name(known[match]) + (f", {section}" if section else "")


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
    docs = documents(policy)
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
                "citation": _citation(r.citation, docs),
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


def _citation(citation, docs: dict) -> dict:
    """A rule's citation: ``document`` and ``section`` as the rule gives them,
    and the document's title, author and date when the policy describes it
    (``text``: the whole citation in words)."""
    doc = docs.get(citation.document)
    out = {"document": citation.document, "section": citation.section}
    out["title"] = doc["title"] if doc else None
    out["author"] = doc["author"] if doc else None
    out["date"] = doc["date"].isoformat() if doc and doc["date"] else None
    out["text"] = (document_name(doc) if doc else citation.document) + f", {citation.section}"
    return out
