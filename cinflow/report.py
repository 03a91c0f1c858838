"""A case as the JSON contract of ``cinflow run --format json``."""

from __future__ import annotations

from datetime import date

from .models import Case, Deadline, HistoryItem, Reason, Remedy


def remedy_item(r: Remedy) -> dict:
    out = {"kind": r.kind, "text": r.describe()}
    if r.roles:
        out["roles"] = list(r.roles)
    if r.decision:
        out["decision"] = r.decision
    if r.rule:
        out["rule"] = r.rule
    if r.on:
        out["on"] = r.on.isoformat()
    if r.each:
        out["each"] = True
    if r.attribute:
        out["attribute"], out["values"] = r.attribute, list(r.values)
    return out


def reason_item(r: Reason) -> dict:
    return {"rule": r.rule, "message": r.message, "source": r.source, "remedies": [remedy_item(m) for m in r.remedies]}


def history_item(h: HistoryItem) -> dict:
    out = {
        "date": h.date.isoformat(),
        "event": h.event,
        "accepted": h.accepted,
        "from": h.from_state,
        "to": h.to_state,
        "reasons": [reason_item(r) for r in h.reasons],
        "advice": [{"rule": a.rule, "message": a.message, "source": a.source} for a in h.advice],
        "exceptions": [{"rule": e.rule, "role": e.role, "reason": e.reason, "source": e.source,
                        "recorded_on": e.recorded_on.isoformat()} for e in h.exceptions],
    }
    if h.automatic:
        out["automatic"] = True
    out["recorded_by"] = h.recorded_by
    return out


def deadline_item(d: Deadline, as_of: date | None) -> dict:
    return {
        "name": d.name,
        "due": d.due.isoformat(),
        "status": d.status(as_of),
        "opened_on": d.opened_on.isoformat(),
        "met_on": d.met_on.isoformat() if d.met_on else None,
        "ended_on": d.ended_on.isoformat() if d.ended_on else None,
        "rule": d.rule,
        "source": d.source,
    }


def case_contract(case: Case, as_of: date | None, next_wakeup: date | None = None) -> dict:
    return {
        "authority": case.authority,
        "case": case.id,
        "state": case.state,
        "version": case.version,
        "as_of": as_of.isoformat() if as_of else None,
        "next_wakeup": next_wakeup.isoformat() if next_wakeup else None,
        "history": [history_item(h) for h in case.history],
        "deadlines": [deadline_item(d, as_of) for d in case.deadlines],
    }


def due_item(case_id: str, authority: str, d: Deadline, as_of: date) -> dict:
    """One row of ``cinflow due --format json`` (and ``GET /api/due``)."""
    return {"case": case_id, "authority": authority, "name": d.name, "due": d.due.isoformat(),
            "status": d.status(as_of), "rule": d.rule, "source": d.source}


def tick_item(case: Case, as_of: date) -> dict:
    """One changed case in ``cinflow tick --format json`` (and ``POST /api/tick``)."""
    return {"case": case.id, "state": case.state, "version": case.version,
            "events": [h.event for h in case.history if h.automatic and h.date <= as_of][-1:]}
