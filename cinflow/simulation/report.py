"""``cinflow report``: one self-contained HTML page from a simulation database.

The page embeds its data as JSON and draws its charts as SVG with a few lines
of inline JavaScript: no CDN, no network, so it opens offline and can be
mailed.  It holds aggregates, plus (with ``--case``) one case's timeline.
It says at the top that it holds synthetic data only when every case it
counts or draws was made by the simulator (``cases.provenance``); a recorded
case's timeline is marked personal data and carries no free text from the
case record (a ``case_closed`` reason shows as its census code only).

Everything taken from the database reaches the page as JSON inside a
``<script type="application/json">`` that cannot be closed early, and the
script puts each datum on the page as text, never as markup."""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from ..errors import InputError
from ..events import EVENT_TYPES
from ..output import write_output
from ..store import Store
from ..vocabulary import CLOSURE_REASONS


def load_summary(store: Store, simulation: int | None = None) -> tuple[int, dict]:
    if "simulations" not in store.db.table_names() or not store.db["simulations"].count:
        raise InputError(f"{store.path} holds no simulation (make one with 'cinflow simulate ... --db {store.path}')")
    if simulation is None:
        row = next(store.db.query("SELECT id, summary FROM simulations ORDER BY id DESC LIMIT 1"))
    else:
        rows = list(store.db.query("SELECT id, summary FROM simulations WHERE id = ?", [simulation]))
        if not rows:
            raise InputError(f"{store.path} has no simulation {simulation}")
        row = rows[0]
    return row["id"], json.loads(row["summary"])


def cohort_flow(store: Store) -> dict:
    """Per authority: (first step after referral, state at the end) -> cases."""
    flow: dict[str, dict[str, int]] = {}
    for r in store.db.query(
        """SELECT c.authority AS authority, e.to_state AS step, c.state AS final, count(*) AS n
           FROM cases c JOIN events e ON e.case_id = c.id
           WHERE e.from_state = 'referral' AND e.accepted = 1 AND e.to_state != 'referral'
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
    ):
        flow.setdefault(r["authority"], {})[f"{r['step']}|{r['final']}"] = r["n"]
    return flow


def recorded_in_flow(store: Store) -> int:
    """Cases the cohort flow counts that were not made by the simulator."""
    return next(store.db.query(
        """SELECT count(DISTINCT c.id) AS n FROM cases c JOIN events e ON e.case_id = c.id
           WHERE e.from_state = 'referral' AND e.accepted = 1 AND e.to_state != 'referral'
           AND c.provenance != 'simulated'"""))["n"]


def _free_text(event: str, name: str) -> bool:
    """Whether attribute ``name`` of ``event`` can hold words someone typed
    (a plain string, not a vocabulary code, date, number or flag)."""
    cls = EVENT_TYPES.get(event)
    fields = {a.name: a.type for a in getattr(cls, "__attrs_attrs__", ())}
    kind = fields.get(name)
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", repr(kind))
    return kind is None or kind.replace(" ", "") in ("str", "str|None", "Optional[str]")


def structured_detail(event: str, attributes: dict) -> dict:
    """A recorded event's attributes without free text; a ``case_closed``
    reason becomes the census code it counts as."""
    out = {k: v for k, v in attributes.items() if not _free_text(event, k)}
    if event == "case_closed" and "reason" in attributes:
        out["reason"] = attributes["reason"] if attributes["reason"] in CLOSURE_REASONS else "RC7"
    return out


def case_timeline(store: Store, case_id: str) -> dict:
    rows = list(store.db.query("SELECT authority, state, provenance FROM cases WHERE id = ?", [case_id]))
    if not rows:
        raise InputError(f"no case {case_id!r} in {store.path}")
    simulated = rows[0]["provenance"] == "simulated"
    events = [
        {"date": e["date"], "event": e["event"], "accepted": bool(e["accepted"]), "from": e["from_state"],
         "to": e["to_state"],
         "detail": (json.loads(e["attributes"]) if simulated
                    else structured_detail(e["event"], json.loads(e["attributes"]))),
         "reasons": [r["rule"] for r in json.loads(e["reasons"] or "[]")]}
        for e in store.db.query("SELECT * FROM events WHERE case_id = ? ORDER BY seq", [case_id])
    ]
    deadlines = [
        {"name": d["name"], "opened": d["opened_on"], "due": d["due"], "met": d["met_on"], "ended": d["ended_on"],
         "rule": d["rule"]}
        for d in store.db.query("SELECT * FROM deadlines WHERE case_id = ? ORDER BY seq", [case_id])
    ]
    return {"id": case_id, "authority": rows[0]["authority"], "state": rows[0]["state"],
            "provenance": "simulated" if simulated else "recorded", "events": events, "deadlines": deadlines}


def script_json(data) -> str:
    """JSON that is safe inside a ``<script>`` element: nothing in it can
    close the element (``</``), open an HTML comment (``<!--``) or end a
    JavaScript line (U+2028, U+2029); it parses to the same value."""
    return (json.dumps(data, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def banner(case: dict | None, recorded: int = 0) -> tuple[str, bool]:
    """What the page says it holds, and whether that is personal data."""
    real_case = case is not None and case.get("provenance") != "simulated"
    if not real_case and not recorded:
        return ("Synthetic data only. This page holds aggregate counts for a simulated cohort"
                + (f" and the timeline of one synthetic case ({case['id']})" if case else "")
                + "; no real child's data."), False
    parts = []
    if real_case:
        parts.append(f"This page holds a real case record: the timeline of case {case['id']}. It is personal data: "
                     "handle it accordingly. Free text from the case record is left out.")
    if recorded:
        parts.append(f"Its cohort flow counts {recorded:,} recorded (real) case(s) besides the simulated cohort"
                     + ("; handle it as personal data." if not real_case else "."))
    return " ".join(parts), True


def render(summary: dict, flow: dict, case: dict | None, simulation: int, recorded: int = 0) -> str:
    data = {"summary": summary, "flow": flow, "case": case, "simulation": simulation}
    payload = script_json(data)
    script = resources.files(__package__).joinpath("report.js").read_text(encoding="utf-8")
    style = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
    p = summary["parameters"]
    title = (f"cinflow simulation {simulation}: {', '.join(p['authorities'])}, {p['referrals']:,} referrals "
             f"from {p['start']} for {p['months']} months (seed {p['seed']})")
    contains, _ = banner(case, recorded)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{style}</style></head>
<body>
<header><h1>{html.escape(title)}</h1>
<p class="contains">{html.escape(contains)} Calibration: {html.escape(summary.get('calibration', ''))}.</p></header>
<main>
<section><h2>Deadline compliance</h2><p>Share of each authority's deadlines met on time, late, or missed
(still open past their date at the end of the window).</p><div class="chart" id="compliance"></div></section>
<section><h2>Monthly workload by role</h2><p>Visits by social workers and CIN meetings by who chaired them, per month.</p>
<div class="chart" id="workload"></div></section>
<section><h2>Cohort flow</h2><p>From referral, through the first step, to where each case was at the end of the window.</p>
<div class="chart" id="flow"></div></section>
{'<section><h2>Case timeline</h2><div class="chart" id="timeline"></div></section>' if case else ''}
<section><h2>Tables</h2><div id="tables"></div></section>
</main>
<script id="data" type="application/json">{payload}</script>
<script>{script}</script>
</body></html>
"""


class Written(NamedTuple):
    path: Path
    personal: bool  # the page holds real case data
    notice: str     # what it holds, in a few words for the command line


def write_report(db: Path, out: Path, case_id: str | None = None, simulation: int | None = None,
                 allow_incomplete: bool = False) -> Written:
    from .runner import require_finished

    if not db.exists():
        raise InputError(f"{db}: no such database")
    with Store(db, read_only=True) as store:
        store.check("no report was written")  # PRAGMA quick_check: a damaged database is one line
        require_finished(store, allow_incomplete)  # a run stopped part-way is refused unless asked for
        number, summary = load_summary(store, simulation)
        flow = cohort_flow(store)
        recorded = recorded_in_flow(store)
        case = case_timeline(store, case_id) if case_id else None
    write_output(out, render(summary, flow, case, number, recorded))
    _, personal = banner(case, recorded)
    if not personal:
        notice = f"synthetic aggregates{', and case ' + case_id if case_id else ''}; no personal data"
    elif case is not None and case["provenance"] != "simulated":
        notice = f"with case {case_id}, a real case record: personal data, handle it accordingly"
    else:
        notice = f"its cohort flow counts {recorded:,} recorded (real) case(s): handle it as personal data"
    return Written(out, personal, notice)
