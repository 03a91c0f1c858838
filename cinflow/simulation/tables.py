"""The summary of a simulation as tables: rich tables for the terminal and
CSV files for analysts, one column per authority, side by side.

With two or more authorities the tables lead with the difference: every
authority gets the same children with the same practice timings, so what
differs between them is their procedure.  Each measure compares each
authority with the one with the least of it (the first listed on a tie).
With replicates (``summary["replicates"]``) a figure that has an interval
reads "median [low–high]" and the comparisons are between medians."""

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
             "advice.csv", "overview.csv", "workforce.csv", "replicates.csv")

OVERVIEW = ("cases", "referred_in_window", "open_at_window_start", "plans_open_at_start", "plans_open_at_end",
            "events", "deadlines", "cases_stored")
ACTIVITY_SHORT = [("visits", "V"), ("initial meetings", "IM"), ("reviews", "R"), ("reviews chaired by an IRO", "IRO"),
                  ("minutes", "Min"), ("manager decisions", "MD")]
CHAIR_ROLES = [("team_manager", "TM"), ("practice_lead", "PL"), ("iro", "IRO"), ("social_worker", "SW"),
               ("senior_practitioner", "SP")]
ROLE_SHORT = {"social_worker": "SW", "senior_practitioner": "SP", "practice_lead": "PL", "team_manager": "TM",
              "assistant_team_manager": "ATM", "service_manager": "SM", "assistant_director": "AD", "iro": "IRO",
              "lead_professional": "LP", "senior_practice_lead": "SPL", "senior_manager": "SnM",
              "agency_professional": "AP"}
# Headline measures: (label, dotted key into an authority's summary, counted a year).
HEADLINE = (("reviews", "workload_total.reviews"), ("initial meetings", "workload_total.initial meetings"),
            ("meetings of every kind", "workload_total.meetings"), ("visits", "workload_total.visits"),
            ("minutes", "workload_total.minutes"), ("manager decisions", "workload_total.manager decisions"))
WORKFORCE_FIELDS = ("window_months", "hours_total", "fte_total", "cases_held_at_end", "caseload_per_fte",
                    "national_caseload_per_fte")


def _get(d, dotted: str):
    """The value at a dotted path; a name with dots in it (a rule id such as
    ``kent.visit``) is matched whole, shortest first."""
    parts = dotted.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(d, dict):
            return None
        for j in range(i + 1, len(parts) + 1):
            name = ".".join(parts[i:j])
            if name in d:
                d, i = d[name], j
                break
        else:
            return None
    return d


def _num(x, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}" if digits or isinstance(x, float) else f"{x:,}"


def _role(role: str) -> str:
    return role.replace("_", "-")


class _Figures:
    """Figures for the tables: a summary's own, or with replicates the
    median and interval of those that have one."""

    def __init__(self, summary: dict):
        self.summary = summary
        self.data = summary["authorities"]
        rep = summary.get("replicates") or {}
        self.intervals = rep.get("figures") or {}
        self.n = rep.get("n")

    def per_year(self, a: str) -> float:
        months = (_get(self.data[a], "workforce.window_months") or _get(self.summary, "parameters.months")
                  or _get(self.summary, "window.months") or 12)
        return 12 / months

    def value(self, a: str, key: str, yearly: bool = False, missing=None):
        """The figure (the median, with replicates), a year's worth if
        ``yearly``; ``missing`` if the summary has none."""
        iv = self.interval(a, key)
        v = iv["median"] if iv else _get(self.data[a], key)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return missing
        return v * self.per_year(a) if yearly else v

    def interval(self, a: str, key: str):
        iv = self.intervals.get(a, {}).get(key)
        return iv if isinstance(iv, dict) and all(isinstance(iv.get(k), (int, float)) for k in ("median", "low", "high")) \
            else None

    def text(self, a: str, key: str, yearly: bool = False, digits: int = 0) -> str:
        iv = self.interval(a, key)
        if iv:
            f = self.per_year(a) if yearly else 1
            return f"{iv['median'] * f:,.{digits}f} [{iv['low'] * f:,.{digits}f}–{iv['high'] * f:,.{digits}f}]"
        v = self.value(a, key, yearly)
        return "-" if v is None else f"{v:,.{digits}f}"


def _baseline(values: dict):
    """The authority with the least (the first listed on a tie), of those with a value."""
    known = [a for a, v in values.items() if v is not None]
    return min(known, key=lambda a: values[a]) if known else None


def _ratio(v: float, base: float) -> str:
    """``v`` as a multiple of ``base`` (two decimals near 1, so 1.03 does not read 1.0)."""
    if not base:
        return ""
    r = v / base
    return f"{r:.2f}×" if r < 1.095 else f"{r:.1f}×"


def headlines(summary: dict) -> list[str]:
    """The differences that matter, one sentence each: each authority against
    the one with the fewest, a year, for the same children."""
    f = _Figures(summary)
    auths = list(f.data)
    if len(auths) < 2:
        return []
    lines = []

    def yearly(key):
        return {a: f.value(a, key, yearly=True, missing=0) for a in auths}

    def role_hours(activity: str | None, a: str, b: str, roles=None) -> list[tuple[str, float]]:
        """Roles whose hours a year (for ``activity``, or in all) differ, most first."""
        diffs = []
        names = roles or sorted({r for x in (a, b) for r in (_get(f.data[x], "workforce.hours") or {})})
        for r in names:
            key = f"workforce.activity_hours.{r}.{activity}" if activity else f"workforce.hours.{r}"
            va, vb = f.value(a, key, True) or 0, f.value(b, key, True) or 0
            if round(va - vb):
                diffs.append((r, va - vb))
        return sorted(diffs, key=lambda rd: -abs(rd[1]))

    def hours_text(diffs, limit=2) -> str:
        """The roles' differences in hours, leaving out those too small to matter beside the largest."""
        top = abs(diffs[0][1]) if diffs else 0
        kept = [(r, d) for r, d in diffs[:limit] if abs(d) >= top / 20]
        return " and ".join(f"{d:+,.0f} {_role(r)}" for r, d in kept) + " hours"

    gaps: dict = {}  # (authority, baseline, measure): the difference a year
    for label, key, verb, activity in (("reviews", "workload_total.reviews", "holds", "review"),
                                       ("visits", "workload_total.visits", "makes", "visit"),
                                       ("meetings of every kind", "workload_total.meetings", "holds", None)):
        v = yearly(key)
        b = _baseline(v)
        if b is None:
            continue
        if all(round(v[a]) == round(v[b]) for a in auths if v[a] is not None):
            lines.append(f"every authority {verb} the same number of {label} for the same children "
                         f"({v[b]:,.0f} a year)")
            continue
        for a in auths:
            if a == b or v[a] is None:
                continue
            gaps[(a, b, label)] = gap = round(v[a] - v[b])
            if not gap:
                lines.append(f"{a} {verb} as many {label} as {b} for the same children ({v[b]:,.0f} a year)")
                continue
            if activity is None and gaps.get((a, b, "reviews")) == gap:
                continue  # every extra meeting is a review: said already
            what = "meetings" if activity == "review" else label
            if v[b]:
                line = f"{a} {verb} {_ratio(v[a], v[b])} {b}'s {label} for the same children: {gap:+,} {what}"
            else:
                line = f"{a} {verb} {v[a]:,.0f} {label} a year for the same children, {b} none: {gap:+,} {what}"
            if activity:
                diffs = role_hours(activity, a, b)
                if diffs:
                    line += f" and {hours_text(diffs)}"
            lines.append(line + " a year")
    fte = {a: f.value(a, "workforce.fte_total") for a in auths}
    b = _baseline(fte)
    if b is not None:
        for a in auths:
            if a == b or fte[a] is None:
                continue
            if abs(fte[a] - fte[b]) < 0.005:
                lines.append(f"{a} needs the same modelled staff time as {b} for the same children "
                             f"({fte[b]:,.2f} FTE)")
                continue
            diffs = role_hours(None, a, b)
            lines.append(f"{a} needs {_ratio(fte[a], fte[b]) + ' ' if fte[b] else ''}{b}'s modelled staff time "
                         f"{'' if fte[b] else 'and more '}for the same children: {fte[a] - fte[b]:+,.2f} FTE ({fte[a]:,.2f} against {fte[b]:,.2f})"
                         + (f", {hours_text(diffs, 3)} a year" if diffs else ""))
    return lines


def _compare_cell(f: _Figures, values: dict, base, a: str, key: str, yearly: bool, digits: int) -> str:
    text = f.text(a, key, yearly, digits)
    v, bv = values.get(a), values.get(base)
    if a == base or v is None or bv is None:
        return text
    d = v - bv
    if not round(d, digits):
        return f"{text} (same)"
    return f"{text} ({d:+,.{digits}f}{', ' + _ratio(v, bv) if bv else ''})"


def _headline_table(summary: dict) -> Table:
    f = _Figures(summary)
    auths = list(f.data)
    rows = [(label, key, True, 0) for label, key in HEADLINE]
    roles = sorted({r for a in auths for r in (_get(f.data[a], "workforce.hours") or {})})
    rows += [(f"hours: {_role(r)}", f"workforce.hours.{r}", True, 0) for r in roles]
    rows += [("hours: every role", "workforce.hours_total", True, 0)] if roles else []
    rows += [(f"FTE: {_role(r)}", f"workforce.fte.{r}", False, 2) for r in roles]
    rows += [("FTE: every role", "workforce.fte_total", False, 2)] if roles else []
    reps = f" (medians [{_interval_label(summary)}] over {f.n} replicates)" if f.n else ""
    t = Table(title="What the procedures change: the same children under each authority, a year; each compared with "
                    f"the authority with the least (difference, ratio){reps}", title_justify="left")
    t.add_column("")
    for a in auths:
        t.add_column(a, justify="right")
    for label, key, yearly, digits in rows:
        values = {a: f.value(a, key, yearly, missing=0 if key.startswith("workload_total.") else None) for a in auths}
        base = _baseline(values)
        t.add_row(label, *(_compare_cell(f, values, base, a, key, yearly, digits) for a in auths))
    return t


def _interval_label(summary: dict) -> str:
    share = (summary.get("replicates") or {}).get("interval", 0.9)
    return f"{share:.0%} interval"


def _headline_lines(lines: list[str]) -> Table:
    t = Table(title="Headline: the same children, each authority's procedure (differences a year)",
              title_justify="left", show_header=False)
    t.add_column("")
    for line in lines:
        t.add_row(line)
    return t


def _workforce_table(summary: dict) -> Table:
    f = _Figures(summary)
    auths = list(f.data)
    roles = sorted({r for a in auths for r in (_get(f.data[a], "workforce.hours") or {})})
    rows = [(f"hours a year: {_role(r)}", f"workforce.hours.{r}", True, 0) for r in roles]
    rows += [("hours a year: every role", "workforce.hours_total", True, 0)]
    rows += [(f"FTE: {_role(r)}", f"workforce.fte.{r}", False, 2) for r in roles]
    rows += [("FTE: every role", "workforce.fte_total", False, 2),
             ("cases held at the end", "workforce.cases_held_at_end", False, 0),
             ("cases per social-worker FTE", "workforce.caseload_per_fte", False, 1),
             ("national: cases per case-holding FTE (S10)", "workforce.national_caseload_per_fte", False, 1)]
    reps = f"; medians [{_interval_label(summary)}] over {f.n} replicates" if f.n else ""
    t = Table(title=f"Workforce (modelled from the calibration's workload table{reps})", title_justify="left")
    t.add_column("")
    for a in auths:
        t.add_column(a, justify="right")
    if not roles:
        t.add_row("no workload table in the calibration: no hours or FTE", *("-" for _ in auths))
    for label, key, yearly, digits in rows:
        t.add_row(label, *(f.text(a, key, yearly, digits) for a in auths))
    for a in auths:
        note = _get(f.data[a], "workforce.assumptions")
        if note:
            t.caption = f"Assumptions: {note}"
            break
    return t


def _activities_table(summary: dict) -> Table:
    f = _Figures(summary)
    auths = list(f.data)
    keys = sorted({(r, w) for a in auths for r, c in (_get(f.data[a], "workforce.activities") or {}).items() for w in c})
    t = Table(title="Activities a year by role (who takes part)", title_justify="left")
    t.add_column("role: activity")
    for a in auths:
        t.add_column(a, justify="right")
    for r, w in keys or [("(none)", "")]:
        t.add_row(f"{_role(r)}: {w}", *(f.text(a, f"workforce.activities.{r}.{w}", True) if keys else "-"
                                          for a in auths))
    return t


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
    hour_roles = sorted({r for a in auths for w in data[a]["workload"].values() for r in w.get("hours", {})})

    def hours(a, month):
        h = data[a]["workload"].get(month, {}).get("hours", {})
        return " ".join(f"{ROLE_SHORT.get(r, r)} {h.get(r, 0):,.0f}" for r in hour_roles)

    lead = []
    if len(auths) > 1:
        lines = headlines(summary)
        lead = ([_headline_lines(lines)] if lines else []) + [_headline_table(summary)]
    hours_legend = ", ".join(f"{ROLE_SHORT.get(r, r)} {r}" for r in hour_roles)
    monthly_hours = ([_side_by_side(f"Hours per month by role ({hours_legend})", "month", months, hours, auths,
                                    justify="left")] if hour_roles else [])
    return [
        *lead,
        _workforce_table(summary),
        _activities_table(summary),
        _side_by_side(f"Workload per month ({legend})", "month", months, activity, auths, justify="left"),
        *monthly_hours,
        _side_by_side(f"Meetings chaired per month, by role ({roles}; initial + review)", "month", months, chairs,
                      auths, justify="left"),
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
                          for kind in ("activity", "role", "hours") for name, n in w.get(kind, {}).items()]
                         + [[a, m, "by_role", f"{role}: {act}", n] for a, s in data.items()
                            for m, w in s["workload"].items() for role, c in w.get("by_role", {}).items()
                            for act, n in c.items()]),
        "refusals.csv": (["authority", "rule", "refusals"],
                         [[a, r, n] for a, s in data.items() for r, n in s["refusals"].items()]),
        "exceptions.csv": (["authority", "rule", "exceptions"],
                           [[a, r, n] for a, s in data.items() for r, n in s["exceptions"].items()]),
        "advice.csv": (["authority", "rule", "advice"],
                       [[a, r, n] for a, s in data.items() for r, n in s["advice"].items()]),
        "overview.csv": (["authority", *OVERVIEW],
                         [[a, *(s.get(k, 0) for k in OVERVIEW)] for a, s in data.items()]),
        "workforce.csv": (["authority", "role", "measure", "activity", "value"], _workforce_rows(data)),
        "replicates.csv": (["authority", "figure", "median", "low", "high"],
                           [[a, key, iv["median"], iv["low"], iv["high"]]
                            for a, figs in ((summary.get("replicates") or {}).get("figures") or {}).items()
                            for key, iv in sorted(figs.items())]),
    }
    out = {}
    for name, (header, rows) in files.items():
        text = io.StringIO(newline="")
        w = csv.writer(text)
        w.writerow(header)
        w.writerows(rows)
        out[folder / name] = text.getvalue()
    return write_outputs(out)  # all or none, each atomically


def _workforce_rows(data: dict) -> list[list]:
    """workforce.csv: per role, activities (counts in the window), hours (in
    the window, also per activity) and FTE (a year); per authority, the totals
    and caseloads (role left empty)."""
    rows = []
    for a, s in data.items():
        wf = s.get("workforce") or {}
        for role in sorted(set(wf.get("activities") or {}) | set(wf.get("hours") or {})):
            for act, n in sorted(((wf.get("activities") or {}).get(role) or {}).items()):
                rows.append([a, role, "activities", act, n])
            for act, h in sorted(((wf.get("activity_hours") or {}).get(role) or {}).items()):
                rows.append([a, role, "hours", act, h])
            if role in (wf.get("hours") or {}):
                rows.append([a, role, "hours", "", wf["hours"][role]])
                rows.append([a, role, "fte", "", (wf.get("fte") or {}).get(role)])
        for key in WORKFORCE_FIELDS:
            if wf.get(key) is not None:
                rows.append([a, "", key, "", wf[key]])
    return rows
