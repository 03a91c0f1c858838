"""``cinflow report``: one self-contained HTML page from a simulation database.

The page embeds its data as JSON and draws its charts as SVG with a few lines
of inline JavaScript: no CDN, no network, so it opens offline and can be
mailed.  It holds aggregates, plus (with ``--case``) one synthetic case's
timeline; it says so at the top."""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from ..errors import InputError, write_output
from ..store import Store


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


def case_timeline(store: Store, case_id: str) -> dict:
    rows = list(store.db.query("SELECT authority, state FROM cases WHERE id = ?", [case_id]))
    if not rows:
        raise InputError(f"no case {case_id!r} in {store.path}")
    events = [
        {"date": e["date"], "event": e["event"], "accepted": bool(e["accepted"]), "from": e["from_state"],
         "to": e["to_state"], "detail": json.loads(e["attributes"]),
         "reasons": [r["rule"] for r in json.loads(e["reasons"] or "[]")]}
        for e in store.db.query("SELECT * FROM events WHERE case_id = ? ORDER BY seq", [case_id])
    ]
    deadlines = [
        {"name": d["name"], "opened": d["opened_on"], "due": d["due"], "met": d["met_on"], "ended": d["ended_on"],
         "rule": d["rule"]}
        for d in store.db.query("SELECT * FROM deadlines WHERE case_id = ? ORDER BY seq", [case_id])
    ]
    return {"id": case_id, "authority": rows[0]["authority"], "state": rows[0]["state"], "events": events,
            "deadlines": deadlines}


def render(summary: dict, flow: dict, case: dict | None, simulation: int) -> str:
    data = {"summary": summary, "flow": flow, "case": case, "simulation": simulation}
    payload = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    script = resources.files(__package__).joinpath("report.js").read_text(encoding="utf-8")
    style = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
    p = summary["parameters"]
    title = (f"cinflow simulation {simulation}: {', '.join(p['authorities'])}, {p['referrals']:,} referrals "
             f"from {p['start']} for {p['months']} months (seed {p['seed']})")
    contains = ("Synthetic data only. This page holds aggregate counts for a simulated cohort"
                + (f" and the timeline of one synthetic case ({case['id']})" if case else "")
                + "; no real child's data.")
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


def write_report(db: Path, out: Path, case_id: str | None = None, simulation: int | None = None) -> Path:
    if not db.exists():
        raise InputError(f"{db}: no such database")
    with Store(db) as store:
        number, summary = load_summary(store, simulation)
        flow = cohort_flow(store)
        case = case_timeline(store, case_id) if case_id else None
    write_output(out, render(summary, flow, case, number))
    return out
