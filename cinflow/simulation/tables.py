"""The summary of a simulation as tables: rich tables for the terminal and
CSV files for analysts, one column per authority, side by side."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.table import Table

ACTIVITY_SHORT = [("visits", "V"), ("initial meetings", "IM"), ("reviews", "R"), ("reviews chaired by an IRO", "IRO"),
                  ("minutes", "Min"), ("manager decisions", "MD")]
CHAIR_ROLES = [("team_manager", "TM"), ("practice_lead", "PL"), ("iro", "IRO"), ("social_worker", "SW"),
               ("senior_practitioner", "SP")]


def tables(summary: dict) -> list[Table]:
    auths = list(summary["authorities"])
    data = summary["authorities"]
    out = []

    t = Table(title="Overview", title_justify="left")
    t.add_column("")
    for a in auths:
        t.add_column(a, justify="right")
    for label, key in (("cases", "cases"), ("events", "events"), ("deadlines", "deadlines"),
                       ("plans open at the end", "plans_open_at_end")):
        t.add_row(label, *(f"{data[a][key]:,}" for a in auths))
    out.append(t)

    t = Table(title="Deadlines: met / late / missed (open at the end; cancelled)", title_justify="left")
    t.add_column("deadline")
    for a in auths:
        t.add_column(a, justify="right")
    for name in sorted({n for a in auths for n in data[a]["deadline_compliance"]}):
        cells = []
        for a in auths:
            c = data[a]["deadline_compliance"].get(name)
            cells.append("-" if c is None else
                         f"{c['met']:,} / {c['late']:,} / {c['missed']:,} ({c['open']:,}; {c['cancelled']:,})")
        t.add_row(name, *cells)
    out.append(t)

    t = Table(title="Days in each state: median / 90th percentile (completed stays)", title_justify="left")
    t.add_column("state")
    for a in auths:
        t.add_column(a, justify="right")
    for state in sorted({s for a in auths for s in data[a]["days_in_state"]}):
        cells = []
        for a in auths:
            q = data[a]["days_in_state"].get(state)
            cells.append("-" if q is None else f"{q['median']} / {q['p90']} (n={q['stays']:,})")
        t.add_row(state, *cells)
    out.append(t)

    t = Table(title="Closures by CIN census reason", title_justify="left")
    t.add_column("reason")
    for a in auths:
        t.add_column(a, justify="right")
    for rc in [f"RC{i}" for i in range(1, 10)]:
        t.add_row(rc, *(f"{data[a]['closures'].get(rc, 0):,}" for a in auths))
    out.append(t)

    legend = ", ".join(f"{short} {name}" for name, short in ACTIVITY_SHORT)
    t = Table(title=f"Workload per month ({legend})", title_justify="left")
    t.add_column("month")
    for a in auths:
        t.add_column(a)
    for month in sorted({m for a in auths for m in data[a]["workload"]}):
        cells = []
        for a in auths:
            act = data[a]["workload"].get(month, {}).get("activity", {})
            cells.append(" ".join(f"{short} {act.get(name, 0)}" for name, short in ACTIVITY_SHORT))
        t.add_row(month, *cells)
    out.append(t)

    roles = ", ".join(f"{short} {name}" for name, short in CHAIR_ROLES)
    t = Table(title=f"Meetings chaired per month, by role ({roles}; initial + review)", title_justify="left")
    t.add_column("month")
    for a in auths:
        t.add_column(a)
    for month in sorted({m for a in auths for m in data[a]["workload"]}):
        cells = []
        for a in auths:
            role = data[a]["workload"].get(month, {}).get("role", {})
            cells.append(" ".join(
                f"{short} {role.get(f'chaired initial: {name}', 0) + role.get(f'chaired review: {name}', 0)}"
                for name, short in CHAIR_ROLES))
        t.add_row(month, *cells)
    out.append(t)

    t = Table(title="Refusals by rule", title_justify="left")
    t.add_column("rule")
    for a in auths:
        t.add_column(a, justify="right")
    rules = sorted({r for a in auths for r in data[a]["refusals"]})
    for rule in rules:
        t.add_row(rule, *(f"{data[a]['refusals'].get(rule, 0):,}" for a in auths))
    if not rules:
        t.add_row("(none)", *("0" for _ in auths))
    out.append(t)
    return out


def write_csv(summary: dict, folder: Path) -> list[Path]:
    """The summary tables as CSV files in ``folder`` (long format: one row per
    authority and measure).  Aggregates only: no case-level data."""
    folder.mkdir(parents=True, exist_ok=True)
    data = summary["authorities"]
    files = {
        "deadlines.csv": (["authority", "deadline", "met", "late", "missed", "open", "cancelled"],
                          [[a, n, c["met"], c["late"], c["missed"], c["open"], c["cancelled"]]
                           for a, s in data.items() for n, c in s["deadline_compliance"].items()]),
        "days_in_state.csv": (["authority", "state", "median_days", "p90_days", "stays"],
                              [[a, st, q["median"], q["p90"], q["stays"]] for a, s in data.items()
                               for st, q in s["days_in_state"].items()]),
        "closures.csv": (["authority", "reason", "cases"],
                         [[a, rc, n] for a, s in data.items() for rc, n in s["closures"].items()]),
        "workload.csv": (["authority", "month", "kind", "name", "count"],
                         [[a, m, kind, name, n] for a, s in data.items() for m, w in s["workload"].items()
                          for kind in ("activity", "role") for name, n in w[kind].items()]),
        "refusals.csv": (["authority", "rule", "refusals"],
                         [[a, r, n] for a, s in data.items() for r, n in s["refusals"].items()]),
        "overview.csv": (["authority", "cases", "events", "deadlines", "plans_open_at_end"],
                         [[a, s["cases"], s["events"], s["deadlines"], s["plans_open_at_end"]] for a, s in data.items()]),
    }
    written = []
    for name, (header, rows) in files.items():
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        written.append(path)
    return written
