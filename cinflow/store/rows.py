"""Cases as table rows and back, the same for every backend.

Writers (the store, the simulator's bulk loader) build rows here, in column
order; readers decode them here.  Nothing in this module talks to a database.

A case's row carries its *projection*: state, version, facts and ``heads``
(for each event name, the ``seq`` of its latest accepted history item).  With
the case's open deadlines, the heads' items and its last item, that is all
the engine consults to apply the next event, so an append reads a few rows
whatever the length of the case (see :func:`summary_seqs`).
"""

from __future__ import annotations

import json
from datetime import date

from ..convert import structure, structure_event, unstructure
from ..events import attributes as event_attributes
from ..models import (
    Advice, Case, CaseFacts, Child, Deadline, Decision, ExceptionUse, HistoryItem, PendingException, Reason, Remedy,
)

CASE_COLUMNS = ("id", "authority", "state", "version", "child", "facts", "heads")
EVENT_COLUMNS = ("case_id", "seq", "date", "event", "accepted", "from_state", "to_state", "automatic", "attributes", "reasons",
                 "advice", "exceptions", "recorded_by")
DEADLINE_COLUMNS = ("case_id", "seq", "name", "due", "rule", "source", "opened_on", "met_on", "ended_on")


def to_json(value) -> str:
    return json.dumps(unstructure(value), sort_keys=True, separators=(",", ":"))


# The records rows hold, encoded without the converter: each a function
# made once that writes the converter's JSON (keys sorted, every field; a
# test holds the two equal character for character).
_ASCII = json.encoder.encode_basestring_ascii


def _enc(value) -> str:
    cls = value.__class__
    if cls is str:
        return _ASCII(value)
    if value is None:
        return "null"
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return int.__repr__(value)
    if cls is date:
        return '"' + value.isoformat() + '"'
    if cls is tuple or cls is list:
        return "[" + ",".join([_enc(v) for v in value]) + "]"
    if cls is float:
        return json.dumps(value)
    return _RECORDS[cls](value)  # KeyError: not a record rows hold


def _record_encoder(cls):
    """A function writing a record of ``cls`` as the converter's JSON: each
    field read directly, ``None``, strings and dates (most of what records
    hold) written in place, anything else by :func:`_enc`."""
    names = sorted(a.name for a in cls.__attrs_attrs__)
    lines = ["def encode(o):"]
    for i, n in enumerate(names):
        lines += [f"    v = o.{n}",
                  "    c = v.__class__",
                  f"    v{i} = 'null' if v is None else s(v) if c is str else '\"' + v.isoformat() + '\"' if c is date "
                  f"else e(v)"]
    keys = [("{" if i == 0 else ",") + json.dumps(n) + ":" for i, n in enumerate(names)]
    lines.append("    return " + " + ".join(f"{k!r} + v{i}" for i, k in enumerate(keys)) + " + '}'")
    namespace = {"e": _enc, "s": _ASCII, "date": date}
    exec("\n".join(lines), namespace)  # noqa: S102 (field names of our own records)
    return namespace["encode"]


_RECORDS = {cls: _record_encoder(cls)
            for cls in (Child, CaseFacts, Reason, Remedy, Advice, ExceptionUse, Decision, PendingException)}


def fast_json(value) -> str:
    """:func:`to_json` without the converter for what rows hold (a case's
    child and facts, reasons, advice, exceptions used); anything else goes
    through the converter."""
    try:
        return _enc(value)
    except KeyError:
        return to_json(value)


_LISTS_JSON: dict = {}


def _list_json(items: tuple) -> str:
    """A history item's reasons, advice or exceptions as JSON; equal ones
    (the same refusal again) are encoded once (a bounded cache)."""
    if not items:
        return "[]"
    try:
        return _LISTS_JSON[items]
    except KeyError:
        pass
    except TypeError:  # unhashable: encode without caching
        return fast_json(list(items))
    text = fast_json(list(items))
    if len(_LISTS_JSON) > 50_000:
        _LISTS_JSON.clear()
    _LISTS_JSON[items] = text
    return text


def _iso(value):
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {value!r}")


_ATTRIBUTES_JSON: dict = {}


def attributes_json(attributes: dict) -> str:
    """An event's attributes (strings, numbers, booleans, dates, tuples of
    them) as the same JSON :func:`to_json` gives, without the converter's
    cost; the same attributes are encoded once (a bounded cache)."""
    if not attributes:
        return "{}"
    key = tuple(attributes.items())
    try:
        return _ATTRIBUTES_JSON[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value: encode without caching
        return json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=_iso)
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=_iso)
    if len(_ATTRIBUTES_JSON) > 100_000:
        _ATTRIBUTES_JSON.clear()
    _ATTRIBUTES_JSON[key] = text
    return text


# -- writing ------------------------------------------------------------------

def heads_of(history, start: int = 0, heads: dict | None = None) -> dict:
    """``{event: seq}`` of each event name's latest accepted item, from
    ``heads`` updated with ``history`` numbered from ``start``."""
    out = dict(heads or {})
    for seq, h in enumerate(history, start=start):
        if h.accepted:
            out[h.event] = seq
    return out


def heads_json(heads: dict) -> str:
    return json.dumps(heads, sort_keys=True, separators=(",", ":"))


def case_row(case: Case) -> tuple:
    return (case.id, case.authority, case.state, case.version, fast_json(case.child), fast_json(case.facts),
            heads_json(heads_of(case.history)))


def event_row(case_id: str, seq: int, h: HistoryItem, recorded_by: str | None = None) -> tuple:
    return (case_id, seq, h.date.isoformat(), h.event, int(h.accepted), h.from_state, h.to_state, int(h.automatic),
            attributes_json(h.attributes), _list_json(h.reasons) if h.reasons else "[]",
            _list_json(h.advice) if h.advice else "[]", _list_json(h.exceptions) if h.exceptions else "[]",
            h.recorded_by or recorded_by)


def event_rows(case: Case, start: int = 0, recorded_by: str | None = None) -> list[tuple]:
    return [event_row(case.id, i, h, recorded_by) for i, h in enumerate(case.history[start:], start=start)]


def deadline_row(case_id: str, seq: int, d: Deadline) -> tuple:
    return (case_id, seq, d.name, d.due.isoformat(), d.rule, d.source, d.opened_on.isoformat(),
            d.met_on.isoformat() if d.met_on else None, d.ended_on.isoformat() if d.ended_on else None)


def deadline_rows(case: Case) -> list[tuple]:
    return [deadline_row(case.id, i, d) for i, d in enumerate(case.deadlines)]


# -- reading ------------------------------------------------------------------

def summary_seqs(version: int, heads: dict) -> list[int]:
    """The history items a projection holds: each event's latest accepted
    one and the case's last one, in order."""
    seqs = set(heads.values())
    if version:
        seqs.add(version - 1)
    return sorted(seqs)


_DECODED: dict = {}


def _attributes(event: str, day: str, text: str, case_id: str) -> dict:
    key = (event, text)
    try:
        return _DECODED[key]
    except KeyError:
        pass
    data = {"date": day, "event": event, **json.loads(text)} if text != "{}" else {"date": day, "event": event}
    if event == "eighteenth_birthday":  # engine-made: not a submittable event, no attributes
        out = {}
    else:
        out = event_attributes(structure_event(data, f"case {case_id} event"))
    if len(_DECODED) > 100_000:
        _DECODED.clear()
    _DECODED[key] = out
    return out


def _many(text: str, cls, where: str) -> tuple:
    if text == "[]" or not text:
        return ()
    return tuple(structure(item, cls, where) for item in json.loads(text))


def history_item(row, case_id: str) -> HistoryItem:
    """A stored event row (columns as :data:`EVENT_COLUMNS`, ``case_id``
    and ``seq`` first) as the history item it recorded."""
    # ``automatic`` is stored for SQL readers; the item reads it from the event's name.
    (_, seq, day, event, accepted, from_state, to_state, _automatic, attrs, reasons, advice, exceptions, recorded_by) = row
    where = f"case {case_id} event {seq}"
    return HistoryItem(date.fromisoformat(day), event, bool(accepted), from_state, to_state,
                       _many(reasons, Reason, where), _attributes(event, day, attrs, case_id),
                       _many(advice, Advice, where), _many(exceptions, ExceptionUse, where), recorded_by)


def deadline(row) -> Deadline:
    """A stored deadline row (columns as :data:`DEADLINE_COLUMNS`)."""
    _, _, name, due, rule, source, opened_on, met_on, ended_on = row
    return Deadline(name, date.fromisoformat(due), rule, source, date.fromisoformat(opened_on),
                    date.fromisoformat(met_on) if met_on else None, date.fromisoformat(ended_on) if ended_on else None)


def child(text: str, case_id: str) -> Child:
    return structure(json.loads(text), Child, f"case {case_id} child")


def facts(text: str, case_id: str) -> CaseFacts:
    return structure(json.loads(text), CaseFacts, f"case {case_id} facts")
