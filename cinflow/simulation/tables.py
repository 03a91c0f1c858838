"""The summary of a simulation as tables: rich tables for the terminal and
CSV files for analysts, one column per authority, side by side."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.table import Table

from ..errors import InputError
from ..models import STATUSES
from ..output import write_outputs

# The files write_csv writes (the CLI refuses a --db among them before a run).
CSV_FILES = ("deadlines.csv", "days_in_state.csv", "closures.csv", "workload.csv", "refusals.csv", "exceptions.csv",
             "advice.csv", "overview.csv")

OVERVIEW = ("cases", "referred_in_window", "open_at_window_start", "plans_open_at_start", "plans_open_at_end",
            "events", "deadlines", "cases_stored")
ACTIVITY_SHORT = [("visits", "V"), ("initial meetings", "IM"), ("reviews", "R"), ("reviews chaired by an IRO", "IRO"),
                  ("minutes", "Min"), ("manager decisions", "MD")]
CHAIR_ROLES = [("team_manager", "TM"), ("practice_lead", "PL"), ("iro", "IRO"), ("social_worker", "SW"),
               ("senior_practitioner", "SP")]


def _side_by_side(title: str, first: str, keys, cell, auths, justify="right") -> Table:
    """One row per key, one column per authority: ``cell(authority, key)``."""
    t = Table(title=title, title_justify="left")
    t.add_column(first)
    for a in auths:
        t.add_column(a, justify=justify)
    for key, label in keys:
        t.add_row(label, *(cell(a, key) for a in auths))
    return t


def tables(summary: dict) -> list[Table]:
    auths = list(summary["authorities"])
    data = summary["authorities"]

    def union(field):
        return [(k, k) for k in sorted({k for a in auths for k in data[a][field]})]

    def compliance(a, name):
        c = data[a]["deadline_compliance"].get(name)
        return "-" if c is None else f"{c['met']:,} / {c['late']:,} / {c['overdue']:,} / {c['missed']:,} ({c['open']:,}; {c['cancelled']:,})"

    def stays(a, state):
        q = data[a]["days_in_state"].get(state)
        return "-" if q is None else f"{q['median']} / {q['p90']} (n={q['stays']:,})"

    def activity(a, month):
        act = data[a]["workload"].get(month, {}).get("activity", {})
        return " ".join(f"{short} {act.get(name, 0)}" for name, short in ACTIVITY_SHORT)

    def chairs(a, month):
        role = data[a]["workload"].get(month, {}).get("role", {})
        return " ".join(f"{short} {role.get(f'chaired initial: {name}', 0) + role.get(f'chaired review: {name}', 0)}"
                        for name, short in CHAIR_ROLES)

    months = [(m, m) for m in sorted({m for a in auths for m in data[a]["workload"]})]
    rules = [(k, k) for k in sorted({k for a in auths for f in ("refusals", "exceptions", "advice") for k in data[a][f]})]
    rules = rules or [("(none)", "(none)")]

    def by_rule(a, r):
        return " / ".join(f"{data[a][f].get(r, 0):,}" for f in ("refusals", "exceptions", "advice"))
    legend = ", ".join(f"{short} {name}" for name, short in ACTIVITY_SHORT)
    roles = ", ".join(f"{short} {name}" for name, short in CHAIR_ROLES)
    return [
        _side_by_side("Overview (the window only)", "", [
            ("cases", "cases"), ("referred_in_window", "  referred in the window"),
            ("open_at_window_start", "  open when it opened"), ("plans_open_at_start", "plans open at the start"),
            ("plans_open_at_end", "plans open at the end"), ("events", "events"), ("deadlines", "deadlines")],
            lambda a, k: f"{data[a].get(k, 0):,}", auths),
        _side_by_side("Deadlines: met / late / overdue / missed (open at the end; cancelled)", "deadline",
                      union("deadline_compliance"), compliance, auths),
        _side_by_side("Days in each state: median / 90th percentile (completed stays)", "state",
                      union("days_in_state"), stays, auths),
        _side_by_side("Closures by CIN census reason", "reason", [(f"RC{i}", f"RC{i}") for i in range(1, 10)],
                      lambda a, rc: f"{data[a]['closures'].get(rc, 0):,}", auths),
        _side_by_side(f"Workload per month ({legend})", "month", months, activity, auths, justify="left"),
        _side_by_side(f"Meetings chaired per month, by role ({roles}; initial + review)", "month", months, chairs,
                      auths, justify="left"),
        _side_by_side("Refusals / exceptions used / advice given, by rule", "rule", rules, by_rule, auths),
    ]


def write_csv(summary: dict, folder: Path) -> list[Path]:
    """The summary tables as CSV files in ``folder`` (long format: one row per
    authority and measure).  Aggregates only: no case-level data."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--csv {folder}: {exc.strerror or exc}") from None
    data = summary["authorities"]
    files = {
        "deadlines.csv": (["authority", "deadline", *STATUSES],
                          [[a, n, *(c[s] for s in STATUSES)]
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
        "exceptions.csv": (["authority", "rule", "exceptions"],
                           [[a, r, n] for a, s in data.items() for r, n in s["exceptions"].items()]),
        "advice.csv": (["authority", "rule", "advice"],
                       [[a, r, n] for a, s in data.items() for r, n in s["advice"].items()]),
        "overview.csv": (["authority", *OVERVIEW],
                         [[a, *(s.get(k, 0) for k in OVERVIEW)] for a, s in data.items()]),
    }
    out = {}
    for name, (header, rows) in files.items():
        text = io.StringIO(newline="")
        w = csv.writer(text)
        w.writerow(header)
        w.writerows(rows)
        out[folder / name] = text.getvalue()
    return write_outputs(out)  # all or none, each atomically
