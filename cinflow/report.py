"""A case as the JSON contract of ``cinflow run --format json``."""

from __future__ import annotations

from datetime import date

from .models import Case, Deadline, HistoryItem


def history_item(h: HistoryItem) -> dict:
    out = {
        "date": h.date.isoformat(),
        "event": h.event,
        "accepted": h.accepted,
        "from": h.from_state,
        "to": h.to_state,
        "reasons": [{"rule": r.rule, "message": r.message, "source": r.source} for r in h.reasons],
    }
    if h.automatic:
        out["automatic"] = True
    return out


def deadline_item(d: Deadline, as_of: date | None) -> dict:
    return {
        "name": d.name,
        "due": d.due.isoformat(),
        "status": d.status(as_of),
        "met_on": d.met_on.isoformat() if d.met_on else None,
        "rule": d.rule,
        "source": d.source,
    }


def case_contract(case: Case, as_of: date | None) -> dict:
    return {
        "authority": case.authority,
        "case": case.id,
        "state": case.state,
        "as_of": as_of.isoformat() if as_of else None,
        "history": [history_item(h) for h in case.history],
        "deadlines": [deadline_item(d, as_of) for d in case.deadlines],
    }
