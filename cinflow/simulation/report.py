"""``cinflow report``: one self-contained HTML page from a simulation database.

The charts are Vega-Lite specifications built here, in Python, and drawn in
the browser as SVG by Vega (the JavaScript of ``vl_convert.javascript_bundle``,
inlined): no CDN, no network, so the page opens offline and can be mailed.  A
Content-Security-Policy lets it run only its own two scripts and load nothing.
Every chart has a caption and a table of the same numbers.

It holds aggregates, plus (with ``--case``) one case's timeline.  It says at
the top that it holds synthetic data only when every case it counts or draws
was made by the simulator (``cases.provenance``); a recorded case's timeline
is marked personal data and carries no free text from the case record (a
``case_closed`` reason shows as its census code only; refusal messages and
exception reasons are left out).

Everything taken from the database reaches the page as JSON inside a
``<script type="application/json">`` that cannot be closed early, and the
script puts each datum on the page as text, never as markup.  The page is
the same, byte for byte, for the same database (no timestamps)."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from ..calendar import add_months
from ..errors import InputError
from ..events import EVENT_TYPES
from ..models import deadline_status
from ..output import write_output
from ..store import Store
from ..vocabulary import CLOSURE_REASONS

# -- what is drawn, in what order -----------------------------------------------------

PCT_STATUSES = ("met", "late", "overdue", "missed")  # the decided deadlines: shares of 100%
SIDE_STATUSES = ("open", "cancelled")                # counted beside them, not in the shares
SIDE_ROW = "open · cancelled"
NOT_IN = "not in this procedure"
STATUS_COLOURS = {"met": "#0072b2", "late": "#e69f00", "overdue": "#cc79a7", "missed": "#d55e00",
                  "open": "#8d99ae", "cancelled": "#c9ced6"}
# Monthly workload: these panels always, then any other activity counted (conferences, ...).
WORKLOAD_ACTIVITIES = ("visits", "initial meetings", "reviews", "reviews chaired by an IRO", "minutes",
                       "manager decisions")
ROLE_KINDS = (("visits: ", "visits"), ("chaired initial: ", "chaired initial meetings"),
              ("chaired review: ", "chaired reviews"), ("decisions: ", "manager decisions"))
KEY_FIGURES = (("cases", "cases"), ("referred_in_window", "referred in the window"),
               ("open_at_window_start", "open at the window's start"), ("plans_open_at_start", "plans open at the start"),
               ("plans_open_at_end", "plans open at the end"), ("events", "events"), ("deadlines", "deadlines"))
ENDED_STATES = ("closed", "stepped_down", "transferred")  # a case in one of these is over
LANES = ("state", "events", "refused", "exceptions used", "advice")
SUBLANE = "\u200b"  # zero-width space: a lane's extra rows are its name and one or more of these
CONFIG = {"font": "system-ui, -apple-system, 'Segoe UI', sans-serif", "view": {"stroke": "#e3e6ea"},
          # Labels never run into each other: Vega drops a label that would come closer than
          # labelSeparation to its neighbour ("greedy"), and quantitative axes get few ticks.
          # (names on a nominal axis are never dropped: those charts size their bands to fit them)
          "axis": {"labelFontSize": 11, "titleFontSize": 11, "labelColor": "#1d2330", "titleColor": "#1d2330"},
          "axisQuantitative": {"tickCount": 4, "labelOverlap": "greedy", "labelSeparation": 8},
          "axisTemporal": {"labelOverlap": "greedy", "labelSeparation": 10},
          "header": {"labelFontSize": 12, "titleFontSize": 12, "labelFontWeight": "bold"},
          "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "top"}}


# -- from the database ------------------------------------------------------------------

def load_summary(store: Store, simulation: int | None = None) -> tuple[int, dict]:
    if not store.count("simulations"):
        raise InputError(f"{store.path} holds no simulation (make one with 'cinflow simulate ... --db {store.path}')")
    found = store.simulation_summary(simulation)
    if found is None:
        raise InputError(f"{store.path} has no simulation {simulation}")
    return found


def cohort_flow(store: Store, window: dict | None = None) -> dict:
    """Per authority: (first step after referral, state at the end) -> cases,
    and (``referral``, ``referral``) for the cases referred that took no step
    (still at referral at the end).  With a ``window`` ({"start", "end"}),
    only first steps taken, and referrals made, in it count (a warm-up's cases
    are stored, not counted)."""
    return store.cohort_flow(window)


def recorded_in_flow(store: Store, window: dict | None = None) -> int:
    """Cases the cohort flow counts that were not made by the simulator."""
    return store.recorded_in_flow(window)


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


def _rule_items(text: str | None, simulated: bool, keep: tuple[str, ...]) -> list[dict]:
    """Rule ids and citations from an events column (reasons, advice,
    exceptions); the words (``keep``) only for a simulated case."""
    out = []
    for item in json.loads(text or "[]"):
        entry = {"rule": item.get("rule"), "source": item.get("source")}
        if simulated:
            entry.update({k: item.get(k) for k in keep})
        elif "role" in keep:
            entry["role"] = item.get("role")  # a role is a code, not free text
        out.append(entry)
    return out


def case_timeline(store: Store, case_id: str) -> dict:
    found = store.case_rows(case_id)
    if found is None:
        raise InputError(f"no case {case_id!r} in {store.path}")
    row, stored_events, stored_deadlines = found
    simulated = row["provenance"] == "simulated"
    events = []
    for e in stored_events:
        reasons = json.loads(e["reasons"] or "[]")
        events.append({
            "date": e["date"], "event": e["event"], "accepted": bool(e["accepted"]), "from": e["from_state"],
            "to": e["to_state"],
            "detail": (json.loads(e["attributes"]) if simulated
                       else structured_detail(e["event"], json.loads(e["attributes"]))),
            "reasons": [r["rule"] for r in reasons],
            "refusals": _rule_items(e["reasons"], simulated, ("message",)),
            "exceptions": _rule_items(e["exceptions"], simulated, ("role", "reason")),
            "advice": _rule_items(e["advice"], simulated, ("message",)),
        })
    deadlines = [
        {"name": d["name"], "opened": d["opened_on"], "due": d["due"], "met": d["met_on"], "ended": d["ended_on"],
         "rule": d["rule"], "source": d["source"]}
        for d in stored_deadlines
    ]
    return {"id": case_id, "authority": row["authority"], "state": row["state"],
            "provenance": "simulated" if simulated else "recorded", "events": events, "deadlines": deadlines}


def rule_citations(case: dict, registry=None) -> dict[str, str]:
    """Each rule id the case's timeline names -> its citation, from the
    authority's installed policy, else as stored with the event or deadline;
    a rule found in neither is left out (the page shows its id alone)."""
    ids = sorted({r["rule"] for e in case["events"] for k in ("refusals", "exceptions", "advice") for r in e[k]
                  if r.get("rule")} | {d["rule"] for d in case["deadlines"] if d.get("rule")})
    index = {}
    try:
        if registry is None:
            from ..plugins import Registry

            registry = Registry.load()
        index = registry[case["authority"]].rule_index
    except Exception:  # not installed, or broken: the stored citations (or the ids alone) serve
        index = {}
    stored = {r["rule"]: r["source"] for e in case["events"] for k in ("refusals", "exceptions", "advice")
              for r in e[k] if r.get("rule") and r.get("source")}
    stored.update({d["rule"]: d["source"] for d in case["deadlines"] if d.get("rule") and d.get("source")})
    out = {}
    for rule in ids:
        info = index.get(rule)
        if info is not None:
            out[rule] = str(info.citation)
        elif rule in stored:
            out[rule] = stored[rule]
    return out


# -- safe embedding -------------------------------------------------------------------

def script_json(data) -> str:
    """JSON that is safe inside a ``<script>`` element: nothing in it can
    close the element (``</``), open an HTML comment (``<!--``) or end a
    JavaScript line (U+2028, U+2029); it parses to the same value."""
    return (json.dumps(data, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one ES module (no imports, no
    network), which sets ``window.vegaEmbed``."""
    import vl_convert

    code = vl_convert.javascript_bundle()
    lowered = code.lower()
    if "</script" in lowered or "<!--" in code or "<script" in lowered:
        raise RuntimeError("the Vega bundle cannot be inlined in a <script> element")
    return code


def _sha256(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii") + "'"


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


# -- small helpers ----------------------------------------------------------------------

def _num(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 100):
        return f"{int(x):,}"
    if isinstance(x, float):
        return f"{x:,.2f}".rstrip("0").rstrip(".") if abs(x) < 10 else f"{x:,.1f}".rstrip("0").rstrip(".")
    return str(x)


def _ms(day: str | date) -> int:
    """A date as Vega's time value: milliseconds since 1970, UTC midnight."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000)


def _datetime(d: date) -> dict:
    """A date as a Vega-Lite DateTime (UTC), for a scale's domain."""
    return {"year": d.year, "month": d.month, "date": d.day, "utc": True}


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def replicate(summary: dict, authority: str, key: str) -> dict | None:
    """The replicates' {median, low, high} for ``key`` (a dotted path into
    the authority's summary), or None."""
    v = ((summary.get("replicates") or {}).get("figures") or {}).get(authority, {}).get(key)
    return v if isinstance(v, dict) and all(isinstance(v.get(k), (int, float)) for k in ("median", "low", "high")) \
        else None


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def interval_text(iv: dict, whole: bool | None = None) -> str:
    """median [low–high], the bounds at the figure's precision: a count's
    (``whole``; by default when the median is a whole number) in whole
    numbers."""
    if whole is None:
        whole = float(iv["median"]).is_integer()
    if whole:
        return f"{round(iv['median']):,} [{round(iv['low']):,}–{round(iv['high']):,}]"
    return f"{_num(iv['median'])} [{_num(iv['low'])}–{_num(iv['high'])}]"


def _value_text(summary: dict, authority: str, key: str, value, whole: bool | None = None) -> str:
    """A figure as text: its replicates' interval where it has one (at the
    figure's precision: a count, ``whole``, in whole numbers)."""
    iv = replicate(summary, authority, key)
    if whole is None:
        whole = True if _whole(value) else None
    if iv:
        return interval_text(iv, whole)
    return f"{round(value):,}" if whole and isinstance(value, (int, float)) else _num(value)


# Readable words for the procedure's state ids (any other id: its underscores as spaces).
STATE_WORDS = {"new": "new", "referral": "referral", "assessment": "assessment", "s47_enquiry": "s47 enquiry",
               "initial_cin": "initial CIN meeting due", "icpc": "initial child protection conference",
               "cin_plan": "CIN plan", "child_protection": "child protection", "closed": "closed",
               "stepped_down": "stepped down", "transferred": "transferred", "transfer_out": "transfer out",
               "looked_after": "looked after"}


def state_words(state) -> str:
    return STATE_WORDS.get(state, str(state).replace("_", " ")) if state is not None else "-"


def shares(counts: dict, keys=PCT_STATUSES) -> dict[str, tuple[float, int]]:
    """Each key's exact share (0-1) of the keys' total, and its whole percent
    rounded so that the row's percents add up to exactly 100 (largest
    remainder); all zero for an empty row."""
    total = sum(counts.get(k, 0) for k in keys)
    if not total:
        return {k: (0.0, 0) for k in keys}
    exact = {k: 100 * counts.get(k, 0) / total for k in keys}
    whole = {k: int(exact[k]) for k in keys}
    order = sorted(keys, key=lambda k: (-(exact[k] - whole[k]), keys.index(k)))
    for k in order[:100 - sum(whole.values())]:
        whole[k] += 1
    return {k: (exact[k] / 100, whole[k]) for k in keys}


def _window(summary: dict) -> dict | None:
    if isinstance(summary.get("window"), dict):
        return summary["window"]
    p = summary.get("parameters") or {}
    try:
        start = date.fromisoformat(p["start"])
        return {"start": start.isoformat(), "end": add_months(start, int(p["months"])).isoformat(),
                "warm_up_months": 0, "warm_up_start": start.isoformat()}
    except (KeyError, TypeError, ValueError):
        return None


def _months(summary: dict) -> list[str]:
    """Every month of the window (YYYY-MM) and any other month counted."""
    seen = {m for s in summary["authorities"].values() for m in s.get("workload", {})}
    w = _window(summary)
    if w:
        m, end = date.fromisoformat(w["start"]).replace(day=1), date.fromisoformat(w["end"])
        while m < end:
            seen.add(m.isoformat()[:7])
            m = add_months(m, 1)
    return sorted(seen)


def _spec(description: str, body: dict) -> dict:
    return {"description": description, "config": CONFIG, "background": "white", "padding": 6, **body}


def _table(head: list[str], rows: list[list], title: str | None = None) -> dict:
    t = {"head": [str(h) for h in head], "rows": [[str(c) for c in r] for r in rows]}
    if title:
        t["title"] = title
    return t


def _figure(fig_id: str, spec: dict, caption: str, table: dict) -> dict:
    return {"id": fig_id, "spec": spec, "caption": caption, "table": table}


def _benchmarks(summary: dict) -> dict:
    return {k: v for k, v in (summary.get("benchmarks") or {}).items()
            if isinstance(v, dict) and isinstance(v.get("value"), (int, float))}


# -- the charts -------------------------------------------------------------------------

def key_figures_figure(summary: dict) -> dict:
    auths = list(summary["authorities"])
    data, rows = [], []
    measures = [(k, label) for k, label in KEY_FIGURES if any(k in s for s in summary["authorities"].values())]
    for key, label in measures:
        row = [label]
        for a in auths:
            v = summary["authorities"][a].get(key)
            iv = replicate(summary, a, key)
            row.append(_value_text(summary, a, key, v, whole=True))
            if v is None and iv is None:
                continue
            data.append({"measure": label, "authority": a, "value": iv["median"] if iv else v,
                         "low": iv["low"] if iv else None, "high": iv["high"] if iv else None,
                         "label": _value_text(summary, a, key, v, whole=True)})
        rows.append(row)
    _fit_labels(data, "measure", 190)
    y = {"field": "authority", "type": "nominal", "sort": auths, "title": None}
    spec = _spec(
        "Key figures per authority: " + ", ".join(label for _, label in measures)
        + "; one panel per measure, each with its own scale.",
        {"data": {"values": data},
         "facet": {"field": "measure", "type": "nominal", "sort": [label for _, label in measures], "title": None},
         "columns": 4,
         "spec": {"width": 190, "height": {"step": 20},
                  "layer": _bars_with_intervals(data, y, None, {"field": "authority", "type": "nominal", "sort": auths,
                                                                "legend": None}, None, SHORT_AXIS)},
         "resolve": {"scale": {"x": "independent"}}})
    return _figure("key-figures", spec,
                   "Bars: each authority's count for the measure named above the panel; every panel has its own scale,"
                   " so compare authorities within a panel, not across panels."
                   + (" A black line is the replicates' interval; the label is median [low–high]."
                      if any(d["low"] is not None for d in data) else ""),
                   _table(["measure", *auths], rows))


def deadline_rows(summary: dict) -> tuple[list[str], list[dict]]:
    """The compliance chart's data: for every authority the same deadlines
    in the same order, each with its decided statuses as shares (summing to
    100%), open and cancelled beside them, and a deadline an authority's
    procedure lacks marked as not in it."""
    auths = list(summary["authorities"])
    names = sorted({n for s in summary["authorities"].values() for n in s["deadline_compliance"]})
    bench = _benchmarks(summary)
    rows = []
    for a in auths:
        comp = summary["authorities"][a]["deadline_compliance"]
        for name in names:
            c = comp.get(name)
            if c is None:
                rows.append({"kind": "na", "authority": a, "deadline": name, "status": "late", "label": NOT_IN})
                continue
            decided = sum(c.get(s, 0) for s in PCT_STATUSES)
            for s, (share, pct) in shares(c).items():
                iv = replicate(summary, a, f"deadline_compliance.{name}.{s}")
                count = interval_text(iv) if iv else f"{c.get(s, 0):,}"
                rows.append({"kind": "share", "authority": a, "deadline": name, "status": s, "n": c.get(s, 0),
                             "decided": decided, "share": share, "pct": pct,
                             "label": f"{pct}% ({count})" if decided else "none decided",
                             "inside": share >= 0.6})
            side = " · ".join(f"{_value_text(summary, a, f'deadline_compliance.{name}.{s}', c.get(s, 0))} {s}"
                              for s in SIDE_STATUSES)
            rows.append({"kind": "side", "authority": a, "deadline": name, "status": SIDE_ROW, "label": side})
            b = bench.get(f"deadline:{name}")
            if b is not None:
                rows.append({"kind": "benchmark", "authority": a, "deadline": name, "status": "met",
                             "value": b["value"], "label": b.get("label", "benchmark")})
    return names, rows


def compliance_figure(summary: dict) -> dict:
    auths = list(summary["authorities"])
    names, data = deadline_rows(summary)
    bench = {k[len("deadline:"):]: v for k, v in _benchmarks(summary).items() if k.startswith("deadline:")}
    y = {"field": "deadline", "type": "nominal", "sort": names, "scale": {"domain": names, "paddingInner": 0.25},
         "title": None, "axis": {"labelLimit": 180}}
    y_off = {"field": "status", "type": "nominal", "scale": {"domain": [*PCT_STATUSES, SIDE_ROW]}}
    x = {"field": "share", "type": "quantitative", "scale": {"domain": [0, 1]}, "stack": None,
         "axis": {"format": ".0%", "values": [0, 0.25, 0.5, 0.75, 1], "grid": True,
                  "title": "share of the decided deadlines"}}

    def only(kind, extra=""):
        return [{"filter": f"datum.kind === '{kind}'{extra}"}]

    layer = [
        {"transform": only("share"), "mark": {"type": "bar", "tooltip": True},
         "encoding": {"y": y, "yOffset": y_off, "x": x,
                      "color": {"field": "status", "type": "nominal", "title": "status (share of decided)",
                                "scale": {"domain": list(PCT_STATUSES),
                                          "range": [STATUS_COLOURS[s] for s in PCT_STATUSES]}},
                      "tooltip": [{"field": "authority"}, {"field": "deadline"}, {"field": "status"},
                                  {"field": "label", "title": "share (count)"},
                                  {"field": "decided", "title": "decided deadlines"}],
                      "description": {"field": "label"}}},
        {"transform": only("share", " && !datum.inside"),
         "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 3, "fontSize": 10, "color": "#1d2330"},
         "encoding": {"y": y, "yOffset": y_off, "x": x, "text": {"field": "label"}}},
        {"transform": only("share", " && datum.inside"),
         "mark": {"type": "text", "align": "right", "baseline": "middle", "dx": -3, "fontSize": 10, "color": "white"},
         "encoding": {"y": y, "yOffset": y_off, "x": x, "text": {"field": "label"}}},
        {"transform": only("side"),
         "mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 10, "fontStyle": "italic",
                  "color": "#4a5568"},
         "encoding": {"y": y, "yOffset": y_off, "x": {"datum": 0, "type": "quantitative"}, "text": {"field": "label"}}},
        {"transform": only("na"),
         "mark": {"type": "text", "align": "left", "baseline": "middle", "fontSize": 11, "color": "#6b7280"},
         "encoding": {"y": y, "yOffset": y_off, "x": {"datum": 0, "type": "quantitative"}, "text": {"field": "label"}}},
    ]
    if bench:
        layer.append({"transform": only("benchmark"),
                      "mark": {"type": "tick", "color": "#000000", "thickness": 3, "opacity": 1},
                      "encoding": {"y": y, "yOffset": y_off, "x": {"field": "value", "type": "quantitative"},
                                   "tooltip": [{"field": "label", "title": "benchmark"},
                                               {"field": "value", "format": ".0%"}]}})
    spec = _spec(
        f"Deadline compliance for {len(names)} deadlines in {len(auths)} authorities: for each deadline, the share "
        "met on time, late, overdue and missed, with counts, and the open and cancelled counts beside them.",
        {"data": {"values": data},
         "facet": {"column": {"field": "authority", "type": "nominal", "sort": auths, "title": None,
                              "header": {"labelFontSize": 13}}},
         "spacing": 36,
         "spec": {"width": 220, "height": {"step": 13}, "layer": layer},
         "resolve": {"scale": {"x": "shared", "y": "shared"}}})
    head = ["deadline", "authority", *PCT_STATUSES, *SIDE_STATUSES, "decided"]
    rows = []
    for name in names:
        for a in auths:
            c = summary["authorities"][a]["deadline_compliance"].get(name)
            if c is None:
                rows.append([name, a, NOT_IN, *[""] * (len(head) - 3)])
                continue
            sh = shares(c)
            cells = []
            for s in PCT_STATUSES:
                count = _value_text(summary, a, f"deadline_compliance.{name}.{s}", c.get(s, 0))
                cells.append(f"{sh[s][1]}% ({count})")
            rows.append([name, a, *cells,
                         *(_value_text(summary, a, f"deadline_compliance.{name}.{s}", c.get(s, 0))
                           for s in SIDE_STATUSES),
                         f"{sum(c.get(s, 0) for s in PCT_STATUSES):,}"])
    caption = ("For each authority (a column) and each deadline (listed in the same order for every authority), four "
               "bars give the share of its decided deadlines that were met on time, late, overdue (still open past the "
               "due date at the window's end) or missed (stopped applying after the due date unmet); each bar is "
               "labelled with its percent and count, and the four percents of each deadline add up to 100. The grey "
               "line under them counts "
               "the deadlines still open before their date, and those cancelled (stopped applying before their "
               f"date), which are not in the shares. '{NOT_IN}' marks a deadline the authority's procedure does not "
               "set.")
    if bench:
        caption += " A black tick on a 'met' bar is a benchmark: " + "; ".join(
            f"{name}: {b.get('label', 'benchmark')} {b['value']:.0%} (source: {b.get('source', 'not given')})"
            for name, b in sorted(bench.items())) + "."
    if summary.get("replicates"):
        caption += " Counts shown as median [low–high] are over the replicates."
    return _figure("compliance", spec, caption, _table(head, rows))


def workload_figure(summary: dict) -> dict:
    auths = list(summary["authorities"])
    months = _months(summary)
    present = {act for s in summary["authorities"].values() for w in s.get("workload", {}).values()
               for act in w.get("activity", {})}
    activities = [*WORKLOAD_ACTIVITIES, *sorted(present - set(WORKLOAD_ACTIVITIES))]
    data, rows, banded, counted = [], [], False, set()
    for m in months:
        for act in activities:
            row = [m, act]
            for a in auths:
                n = summary["authorities"][a].get("workload", {}).get(m, {}).get("activity", {}).get(act, 0)
                iv = replicate(summary, a, f"workload.{m}.activity.{act}")
                banded = banded or iv is not None
                if n or (iv and iv["high"]):
                    counted.add(act)
                text = _value_text(summary, a, f"workload.{m}.activity.{act}", n, whole=True)
                data.append({"authority": a, "month": _ms(m + "-01"), "month_label": m, "activity": act,
                             "n": iv["median"] if iv else n, "low": iv["low"] if iv else None,
                             "high": iv["high"] if iv else None, "label": text})
                row.append(text)
            rows.append(row)
    # A panel that would be a flat line at zero is left out, and the caption says so.
    empty = [act for act in activities if act not in counted]
    activities = [act for act in activities if act in counted] or activities[:1]
    data = [d for d in data if d["activity"] in activities]
    x = {"field": "month", "type": "temporal", "scale": {"type": "utc"}, "title": None,
         "axis": {"format": "%b %Y", "labelAngle": 0, "labelFlush": False, "tickCount": {"interval": "month",
                                                                                    "step": 3}}}
    colour = {"field": "authority", "type": "nominal", "sort": auths, "title": "authority"}
    layer = [
        {"mark": {"type": "line", "point": {"size": 24}, "tooltip": True},
         "encoding": {"x": x, "y": {"field": "n", "type": "quantitative", "title": "per month"}, "color": colour,
                      # one legend (the colour's): the dashes and point shapes tell the lines apart in print
                      "strokeDash": {"field": "authority", "type": "nominal", "sort": auths, "legend": None},
                      "shape": {"field": "authority", "type": "nominal", "sort": auths, "legend": None},
                      "tooltip": [{"field": "authority"}, {"field": "activity"}, {"field": "month_label",
                                                                                     "title": "month"},
                                  {"field": "label", "title": "count"}],
                      "description": {"field": "label"}}},
    ]
    if banded:
        layer.insert(0, {"transform": [{"filter": "isValid(datum.low)"}], "mark": {"type": "area", "opacity": 0.2},
                         "encoding": {"x": x, "y": {"field": "low", "type": "quantitative"}, "y2": {"field": "high"},
                                      "color": colour}})
    spec = _spec(
        "Monthly workload: " + ", ".join(activities) + " per month, a line per authority; each panel has its own "
        "vertical scale.",
        {"data": {"values": data},
         "facet": {"field": "activity", "type": "nominal", "sort": activities, "title": None},
         "columns": 3, "spec": {"width": 250, "height": 150, "layer": layer},
         "resolve": {"scale": {"y": "independent"}}})
    return _figure("workload", spec,
                   "One panel per activity, month by month, a line per authority. Each panel has its own vertical "
                   "scale, so read the numbers on its axis: a tall line in one panel may be smaller than a low one in "
                   "another." + (" The shaded band is the replicates' interval." if banded else "")
                   + (f" None in this run, so not drawn: {', '.join(empty)} (zero in every month)." if empty else ""),
                   _table(["month", "activity", *auths], rows))


def roles_figure(summary: dict) -> dict:
    auths = list(summary["authorities"])
    totals: dict[tuple[str, str, str], int] = {}
    for a in auths:
        for w in summary["authorities"][a].get("workload", {}).values():
            for key, n in w.get("role", {}).items():
                for prefix, kind in ROLE_KINDS:
                    if key.startswith(prefix):
                        totals[(kind, key[len(prefix):], a)] = totals.get((kind, key[len(prefix):], a), 0) + n
    kinds = [kind for _, kind in ROLE_KINDS if any(k[0] == kind for k in totals)]
    roles = sorted({k[1] for k in totals})
    data = [{"kind": kind, "role": role, "authority": a, "n": n, "label": f"{n:,}"}
            for (kind, role, a), n in sorted(totals.items())]
    y = {"field": "role", "type": "nominal", "sort": roles, "title": None}
    spec = _spec(
        "Who did the work over the window: visits, meetings chaired and manager decisions by role, a bar per authority.",
        {"data": {"values": data},
         "facet": {"column": {"field": "kind", "type": "nominal", "sort": kinds, "title": None}},
         "spec": {"width": 170, "height": {"step": 14 * max(1, len(auths))}, "layer": [
             {"mark": {"type": "bar", "tooltip": True},
              "encoding": {"y": y, "yOffset": {"field": "authority", "type": "nominal", "sort": auths},
                           "x": {"field": "n", "type": "quantitative", "title": "over the window"},
                           "color": {"field": "authority", "type": "nominal", "sort": auths, "title": "authority"},
                           "description": {"field": "label"}}},
             {"mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 10},
              "encoding": {"y": y, "yOffset": {"field": "authority", "type": "nominal", "sort": auths},
                           "x": {"field": "n", "type": "quantitative"}, "text": {"field": "label"}}}]},
         "resolve": {"scale": {"x": "independent"}}})
    rows = [[kind, role, *(f"{totals.get((kind, role, a), 0):,}" for a in auths)]
            for kind in kinds for role in roles if any((kind, role, a) in totals for a in auths)]
    return _figure("roles", spec,
                   "Totals over the window by the role that did the work: visits (by social workers), CIN meetings by "
                   "the role of their chair, and manager decisions by the role that made them; each panel has its own "
                   "scale.", _table(["activity", "role", *auths], rows))


def flow_figure(summary: dict, flow: dict) -> dict:
    auths = [a for a in summary["authorities"]] + sorted(set(flow) - set(summary["authorities"]))
    steps = sorted({k.split("|", 1)[0] for f in flow.values() for k in f}, key=lambda s: (s == "referral", s))
    finals = sorted({k.split("|", 1)[1] for f in flow.values() for k in f}, key=lambda s: (s == "referral", s))
    ALL_END, ALL_STEP = "all end states", "all first steps"

    def step_words(s):
        return "no step yet" if s == "referral" else s if s == ALL_STEP else state_words(s)

    def final_words(e):
        return "still at referral" if e == "referral" else e if e == ALL_END else state_words(e)
    data, rows = [], []
    for a in auths:
        f = flow.get(a, {})
        total = sum(f.values())
        step_tot = {s: sum(n for k, n in f.items() if k.split("|", 1)[0] == s) for s in steps}
        final_tot = {e: sum(n for k, n in f.items() if k.split("|", 1)[1] == e) for e in finals}
        for s in [*steps, ALL_STEP]:
            for e in [*finals, ALL_END]:
                if s == ALL_STEP and e == ALL_END:
                    n = total
                elif s == ALL_STEP:
                    n = final_tot[e]
                elif e == ALL_END:
                    n = step_tot[s]
                else:
                    n = f.get(f"{s}|{e}", 0)
                share = n / total if total else 0.0
                data.append({"authority": a, "step": step_words(s), "final": final_words(e), "n": n, "share": share,
                             "total": s == ALL_STEP or e == ALL_END, "label": f"{n:,}" if n else "",
                             "tip": f"{n:,} of {total:,} ({share:.0%})"})
                if n and s != ALL_STEP and e != ALL_END:
                    rows.append([a, step_words(s), final_words(e), f"{n:,}", f"{share:.0%}"])
        rows.append([a, ALL_STEP, ALL_END, f"{total:,}", "100%" if total else "-"])
    x = {"field": "final", "type": "nominal", "sort": [*map(final_words, finals), ALL_END],
         "title": "state at the end of the window",
         "axis": {"orient": "top", "labelAngle": -90, "labelLimit": 170}}
    y = {"field": "step", "type": "nominal", "sort": [*map(step_words, steps), ALL_STEP], "title": None,
         "axis": {"labelLimit": 160}}
    spec = _spec(
        "Cohort flow per authority: a grid from the first step after referral (rows) to the state at the end of the "
        "window (columns); each cell is the number of cases.",
        {"data": {"values": data},
         "facet": {"row": {"field": "authority", "type": "nominal", "sort": auths, "title": None,
                           "header": {"labelAngle": 0, "labelAlign": "left", "labelFontSize": 13}}},
         "spacing": 18,
         "spec": {"width": {"step": 52}, "height": {"step": 26}, "layer": [
             {"transform": [{"filter": "!datum.total"}], "mark": {"type": "rect", "stroke": "white", "tooltip": True},
              "encoding": {"x": x, "y": y,
                           "color": {"field": "share", "type": "quantitative", "title": "share of the cohort",
                                     "scale": {"scheme": "blues", "domain": [0, 0.5], "clamp": True},
                                     "legend": {"format": ".0%"}},
                           "tooltip": [{"field": "authority"}, {"field": "step", "title": "first step"},
                                       {"field": "final", "title": "at the end"}, {"field": "tip", "title": "cases"}],
                           "description": {"field": "tip"}}},
             {"transform": [{"filter": "datum.total"}], "mark": {"type": "rect", "stroke": "white",
                                                                 "color": "#eef0f3"},
              "encoding": {"x": x, "y": y, "description": {"field": "tip"}}},
             {"mark": {"type": "text", "fontSize": 11},
              "encoding": {"x": x, "y": y, "text": {"field": "label"},
                           "color": {"condition": {"test": "!datum.total && datum.share > 0.3", "value": "white"},
                                     "value": "#1d2330"}}}]}})
    return _figure("flow", spec,
                   "Each authority's cases referred in the window, as a grid: one line per first step after referral, a "
                   "column per state at the end of the window, and each cell the number of cases that took that "
                   "route (darker: a larger share of the authority's cohort). The grey row and column are totals; "
                   "'still at referral' counts the cases referred in the window that took no step from referral.",
                   _table(["authority", "first step", "state at the end", "cases", "share of the cohort"], rows))


# Large numbers on a small panel's axis as 10k, 20k, ... (the bars' labels keep every digit).
SHORT_AXIS = {"tickCount": 3, "labelOverlap": "greedy", "labelSeparation": 8, "labelExpr": "abs(datum.value) >= 10000 ? format(datum.value / 1000, ',~g') + 'k' : datum.label"}
LABEL_PX = 6.2  # a 10px label's width per character, about (for room beside a bar)


def _fit_labels(data: list[dict], panel: str, width: int) -> None:
    """Make room for each bar's label in its panel (of ``width`` px): a label
    that fits inside its bar goes there (``inside``); for the others, a
    ``pad`` row (drawn as nothing) stretches the panel's scale so that the
    label fits beside the bar, never past the panel's edge."""
    top: dict = {}
    for d in data:
        top[d[panel]] = max(top.get(d[panel], 0), d["value"] or 0, d.get("high") or 0)
    need: dict = {}
    for d in data:
        px = LABEL_PX * len(d["label"]) + 8
        end = max(d["value"] or 0, d.get("high") or 0)
        d["inside"] = bool(top[d[panel]]) and (d["value"] or 0) / top[d[panel]] * width > px + 6 \
            and (d["value"] or 0) >= end
        if not d["inside"] and width > px + 10:
            need[d[panel]] = max(need.get(d[panel], 0), end * width / (width - px - 10))
    for key, value in need.items():
        if value > top[key]:
            like = next(d for d in data if d[panel] == key)
            data.append({**{k: None for k in like}, panel: key, "pad": True, "value": value, "label": ""})


def _bars_with_intervals(data: list[dict], y: dict, y_off: dict | None, colour: dict, x_title,
                         axis: dict | None = None) -> list[dict]:
    """A bar per row (``value``), a black rule over its replicates' interval
    (``low``-``high``) where it has one, and its ``label`` beside it (or, when
    ``_fit_labels`` said so, inside it)."""
    pos = {"y": y, **({"yOffset": y_off} if y_off else {})}
    x = {"field": "value", "type": "quantitative", "title": x_title, "stack": None}
    if axis:
        x["axis"] = axis
    real = [{"filter": "!datum.pad"}]
    layer = [{"transform": real, "mark": {"type": "bar", "tooltip": True},
              "encoding": {**pos, "x": x, "color": colour, "description": {"field": "label"}}}]
    if any(d.get("low") is not None for d in data):
        layer.append({"transform": [{"filter": "!datum.pad && isValid(datum.low)"}],
                      "mark": {"type": "rule", "color": "#1d2330"},
                      "encoding": {**pos, "x": {"field": "low", "type": "quantitative"}, "x2": {"field": "high"}}})
    if any(d.get("pad") for d in data):
        layer.append({"transform": [{"filter": "datum.pad === true"}],
                      "mark": {"type": "point", "opacity": 0, "aria": False},
                      "encoding": {"x": {"field": "value", "type": "quantitative"}}})
    if any(d.get("inside") for d in data):
        layer.append({"transform": [{"filter": "!datum.pad && datum.inside"}],
                      "mark": {"type": "text", "align": "right", "dx": -4, "fontSize": 10, "color": "white"},
                      "encoding": {**pos, "x": {"field": "value", "type": "quantitative", "stack": None},
                                   "text": {"field": "label"}}})
        real = [{"filter": "!datum.pad && !datum.inside"}]
    layer.append({"transform": real, "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 10},
                  "encoding": {**pos, "x": {"field": "value", "type": "quantitative", "stack": None},
                               "text": {"field": "label"}}})
    return layer


def workforce_figures(summary: dict) -> list[dict]:
    """Hours and FTE by role, activities by role, and caseload per FTE
    against the national figure: each drawn only when the summary has its
    numbers."""
    auths = [a for a, s in summary["authorities"].items() if isinstance(s.get("workforce"), dict)]
    if not auths:
        return []
    wf = {a: summary["authorities"][a]["workforce"] for a in auths}
    colour = {"field": "authority", "type": "nominal", "sort": auths, "title": "authority"}
    y_off = {"field": "authority", "type": "nominal", "sort": auths}
    figures = []

    roles = sorted({r for a in auths for m in ("hours", "fte") for r in (wf[a].get(m) or {})})
    data, rows = [], []
    for role in roles:
        row = [role]
        for a in auths:
            cell = []
            for m, label in (("hours", "hours"), ("fte", "FTE")):
                v = (wf[a].get(m) or {}).get(role)
                iv = replicate(summary, a, f"workforce.{m}.{role}")
                text = _value_text(summary, a, f"workforce.{m}.{role}", v, whole=True if m == "hours" else None)
                cell.append(f"{text} {label}")
                if isinstance(v, (int, float)) or iv:
                    data.append({"measure": label, "role": role, "authority": a, "value": iv["median"] if iv else v,
                                 "low": iv["low"] if iv else None, "high": iv["high"] if iv else None,
                                 "label": text})
            row.append(" · ".join(cell))
        rows.append(row)
    if data:
        rows.append(["all roles", *(f"{_value_text(summary, a, 'workforce.hours_total', wf[a].get('hours_total'), True)}"
                                    f" hours · {_num(wf[a].get('fte_total'))} FTE" for a in auths)])
        _fit_labels(data, "measure", 230)
        y = {"field": "role", "type": "nominal", "sort": roles, "title": None}
        spec = _spec(
            "Modelled workforce by role: hours of work and full-time equivalents (FTE), a bar per authority; "
            "assumptions, not staffing records.",
            {"data": {"values": data},
             "facet": {"column": {"field": "measure", "type": "nominal", "sort": ["hours", "FTE"], "title": None}},
             "spec": {"width": 230, "height": {"step": 14},
                      "layer": _bars_with_intervals(data, y, y_off, colour, None, SHORT_AXIS)},
             "resolve": {"scale": {"x": "independent"}}})
        figures.append(_figure(
            "workforce", spec,
            "Hours of work over the window and the full-time equivalents (FTE) they come to, by role and authority, "
            "as the simulation's workforce assumptions give them (see the notes above); each panel has its own scale."
            + (" A black line is the replicates' interval; the label is median [low–high]."
               if any(d["low"] is not None for d in data) else ""),
            _table(["role", *auths], rows)))

    acts = {(role, act, a): n for a in auths for role, by in (wf[a].get("activities") or {}).items()
            for act, n in (by or {}).items() if isinstance(n, (int, float))}
    if acts:
        aroles = sorted({k[0] for k in acts})
        names = sorted({k[1] for k in acts})
        adata = [{"role": role, "activity": act, "authority": a, "value": n, "label": _num(n)}
                 for (role, act, a), n in sorted(acts.items())]
        _fit_labels(adata, "role", 150)
        y = {"field": "activity", "type": "nominal", "sort": names, "title": None}
        spec = _spec(
            "What each role did over the window: counts of each activity by role, a bar per authority.",
            {"data": {"values": adata},
             "facet": {"column": {"field": "role", "type": "nominal", "sort": aroles, "title": None}},
             "spec": {"width": 150, "height": {"step": 12},
                      "layer": _bars_with_intervals(adata, y, y_off, colour, "over the window", SHORT_AXIS)},
             "resolve": {"scale": {"x": "independent"}}})
        figures.append(_figure(
            "activities", spec,
            "The work the simulation gives each role, by activity, over the window (one piece of work can count for "
            "more than one role: a meeting for its chair and the social worker); each panel has its own scale.",
            _table(["role", "activity", *auths],
                   [[role, act, *(_num(acts.get((role, act, a), 0)) for a in auths)]
                    for role in aroles for act in names if any((role, act, a) in acts for a in auths)])))

    bench = _benchmarks(summary).get("caseload_per_fte")
    cdata, crow, rules, known = [], ["caseload per FTE"], {}, False
    for a in auths:
        v = wf[a].get("caseload_per_fte")
        iv = replicate(summary, a, "workforce.caseload_per_fte")
        has = isinstance(v, (int, float)) or iv is not None
        known = known or has
        crow.append(_value_text(summary, a, "workforce.caseload_per_fte", v) if has else "not known")
        cdata.append({"kind": "bar" if has else "na", "authority": a, "value": (iv["median"] if iv else v) if has else 0,
                      "low": iv["low"] if iv else None, "high": iv["high"] if iv else None,
                      "label": (interval_text(iv) if iv else _num(v)) if has else "not known"})
        nat = wf[a].get("national_caseload_per_fte")
        if isinstance(nat, (int, float)):
            rules[("national average", nat)] = wf[a].get("national_caseload_source") or ""
    if bench:
        rules[(bench.get("label", "benchmark"), bench["value"])] = bench.get("source", "")
    if known or rules:
        for (label, value) in sorted(rules, key=lambda k: (k[1], k[0])):
            cdata.append({"kind": "rule", "label": f"{label}: {_num(value)}", "value": value})
        y = {"field": "authority", "type": "nominal", "sort": auths, "title": None}
        x = {"field": "value", "type": "quantitative", "title": "cases per social worker FTE", "stack": None,
             "scale": {"zero": True}}
        bars = [d for d in cdata if d["kind"] != "rule"]
        layer = [{**layer, "transform": [{"filter": "datum.kind === 'bar'"}, *layer.get("transform", [])]}
                 for layer in _bars_with_intervals(bars, y, None, {**colour, "legend": None}, x["title"])[:-1]]
        layer[0]["encoding"]["x"] = x
        layer += [
            {"transform": [{"filter": "datum.kind !== 'rule'"}],
             "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10},
             "encoding": {"y": y, "x": x, "text": {"field": "label"}}},
            {"transform": [{"filter": "datum.kind === 'rule'"}],
             "mark": {"type": "rule", "color": "#1d2330", "strokeDash": [5, 3], "strokeWidth": 1.5},
             "encoding": {"x": x, "description": {"field": "label"}}},
            {"transform": [{"filter": "datum.kind === 'rule'"}],
             "mark": {"type": "text", "align": "left", "dx": 3, "y": -6, "fontSize": 10, "fontStyle": "italic"},
             "encoding": {"x": x, "text": {"field": "label"}}},
        ]
        cspec = _spec("Caseload per social worker FTE per authority"
                      + (", against the national figure" if any(k[0] == "national average" for k in rules) else "")
                      + (" and the benchmark" if bench else "") + ".",
                      {"data": {"values": cdata}, "width": 420, "height": {"step": 28}, "layer": layer})
        sources = "; ".join(f"{label}: {_num(value)} (source: {src or 'not given'})"
                            for (label, value), src in sorted(rules.items(), key=lambda kv: (kv[0][1], kv[0][0])))
        caption = ("Each authority's cases held per social worker FTE (an assumption: from the modelled hours, not "
                   "staffing records)" + (f"; dashed lines: {sources}." if sources else ".")
                   + (" 'not known' marks an authority whose FTE the summary does not give." if not all(
                       d["kind"] == "bar" for d in bars) else ""))
        figures.append(_figure("caseload", cspec, caption, _table(["", *auths], [
            crow, ["cases held at the end", *(_num(wf[a].get("cases_held_at_end")) for a in auths)],
            ["national caseload per FTE", *(_num(wf[a].get("national_caseload_per_fte")) for a in auths)]])))
    return figures


def _slots(items: list[dict], start_key: str, end_key: str) -> int:
    """Give each item the lowest ``slot`` whose last item ended before it
    starts (interval partitioning); return the number of slots used."""
    ends: list[float] = []
    for it in sorted(items, key=lambda i: (i[start_key], i[end_key])):
        for k, e in enumerate(ends):
            if e < it[start_key]:
                it["slot"], ends[k] = k, it[end_key]
                break
        else:
            it["slot"] = len(ends)
            ends.append(it[end_key])
    return len(ends)


def timeline_figure(case: dict, summary: dict) -> dict:
    cites = case.get("citations") or {}
    window = _window(summary)
    # The x-domain runs from the case's first event (or deadline) to its last
    # event or the last deadline date it draws: a case that closed early fills
    # the width.  An open case runs on to the window's end, and nothing is
    # drawn past that (an open deadline due later is cut there).
    starts = [e["date"] for e in case["events"]] + [d["opened"] for d in case["deadlines"]]
    if not starts:
        starts = [window["start"]] if window else ["2000-01-01"]
    first = min(starts)
    as_of = None
    if window and window["end"] > first:
        as_of = date.fromisoformat(window["end"]) - timedelta(days=1)
    shown = [e["date"] for e in case["events"]]
    for d in case["deadlines"]:
        cancelled = d["ended"] and not d["met"] and d["ended"] < d["due"]
        shown += [x for x in ((d["opened"], d["ended"]) if cancelled else (d["opened"], d["due"], d["met"], d["ended"]))
                  if x]
    last = max([first, *shown])
    if as_of and case.get("state") not in ENDED_STATES:
        last = max(last, as_of.isoformat())
    if as_of:
        last = max(first, min(last, as_of.isoformat()))
    t0, t1 = date.fromisoformat(first) - timedelta(days=3), date.fromisoformat(last) + timedelta(days=3)
    width = 820
    ms_per_px = max(1, (_ms(t1) - _ms(t0))) / width

    def cite(rule):
        return f"{rule} ({cites[rule]})" if rule in cites else rule

    data: list[dict] = []
    # Events: accepted ones in their lane; refusals, exceptions and advice in theirs.
    marks: dict[str, list[dict]] = {lane: [] for lane in LANES[1:]}
    for e in case["events"]:
        step = f"{e['event']}" + (f" ({e['from']} → {e['to']})" if e["from"] != e["to"] else "")
        if e["accepted"]:
            marks["events"].append({"kind": "event", "lane": "events", "date": e["date"], "label": "",
                                    "what": step, "rules": "", "citation": "",
                                    "aria": f"{e['date']}: {step}, accepted"})
        else:
            rules = [r["rule"] for r in e["refusals"]] or e.get("reasons") or []
            words = "; ".join(r["message"] for r in e["refusals"] if r.get("message"))
            marks["refused"].append({"kind": "refusal", "lane": "refused", "date": e["date"],
                                     "label": "refused: " + ", ".join(rules), "what": f"{e['event']} refused"
                                     + (f": {words}" if words else ""),
                                     "rules": ", ".join(rules), "citation": "; ".join(cite(r) for r in rules),
                                     "aria": f"{e['date']}: {e['event']} refused by " + "; ".join(cite(r) for r in rules)})
        for lane, key, kind in (("exceptions used", "exceptions", "exception"), ("advice", "advice", "advice")):
            for r in e.get(key) or []:
                who = f" authorised by {r['role']}" if r.get("role") else ""
                marks[lane].append({"kind": kind, "lane": lane, "date": e["date"],
                                    "label": f"{r['rule']}{who}",
                                    "what": f"{e['event']}: {kind} under {r['rule']}{who}"
                                    + (f" ({r['reason']})" if r.get("reason") else "")
                                    + (f": {r['message']}" if r.get("message") else ""),
                                    "rules": r["rule"] or "", "citation": cite(r["rule"]) if r.get("rule") else "",
                                    "aria": f"{e['date']}: {e['event']}, {kind} under {cite(r['rule'])}{who}"})
    # Room at the right for the short labels that start near the end (a
    # cancelled deadline's word, a short last state's name), so that none runs
    # past the chart's edge; an event's label that would is put to its left.
    ends = [(_ms(d["ended"]) + 86_400_000, LABEL_PX * len("cancelled") + 12) for d in case["deadlines"]
             if d["ended"] and not d["met"] and d["ended"] < d["due"]]
    ends += [(_ms(e["date"]), LABEL_PX * len(state_words(e["to"])) + 12)
             for e in case["events"] if e["accepted"] and e["from"] != e["to"]]
    span = _ms(t1) - _ms(t0)
    for at, px in ends:
        if px < width * 0.6:
            span = max(span, (at - _ms(t0)) * width / (width - px))
    t1 = max(t1, datetime.fromtimestamp((_ms(t0) + span) / 1000, tz=timezone.utc).date() + timedelta(days=1))
    ms_per_px = max(1, (_ms(t1) - _ms(t0))) / width
    # State bands, from each change of state to the next (or the end).
    # A band too short for its name is named just below it, in a row of the
    # state lane's own (no box is left unlabelled).
    changes = [e for e in case["events"] if e["accepted"] and e["from"] != e["to"]]
    outside = []
    for i, e in enumerate(changes):
        end = changes[i + 1]["date"] if i + 1 < len(changes) else last
        end = max(end, e["date"])
        words = state_words(e["to"])
        px = (_ms(end) + 86_400_000 - _ms(e["date"])) / ms_per_px
        fits = px >= LABEL_PX * len(words) + 8
        item = {"kind": "state", "lane": "state", "start": _ms(e["date"]), "end": _ms(end) + 86_400_000,
                "label": words if fits else "", "slot": 0, "tone": i % 2,
                "what": f"in {words}", "when": f"{e['date']} to {end}", "rules": "", "citation": "",
                "aria": f"state {words} from {e['date']} to {end}"}
        data.append(item)
        if not fits:
            outside.append({**item, "kind": "statelabel", "label": words,
                            "end": item["start"] + (LABEL_PX * len(words) + 12) * ms_per_px})
    counts = {"state": 1 + _slots(outside, "start", "end")}
    for it in outside:
        it["slot"] += 1
    data.extend(outside)
    for lane, items in marks.items():
        for it in items:
            it["start"] = _ms(it["date"])
            # A label's extent in time, so labels in one lane never overlap.
            px = LABEL_PX * len(it["label"]) + 16 if it["label"] else 10
            it["flip"] = bool(it["label"]) and (it["start"] - _ms(t0)) / ms_per_px + px > width
            it["end"] = it["start"] + (10 if it["flip"] else px) * ms_per_px
            if it["flip"]:
                it["start"] -= px * ms_per_px  # the slot it takes (its mark is drawn at "at")
            it["at"] = _ms(it["date"])
            it["when"] = it["date"]
        counts[lane] = max(1, _slots(items, "start", "end"))
        data.extend(items)
    # Deadlines: one lane per name, each occurrence from opened to due.
    names = []
    by_name: dict[str, list[dict]] = {}
    for d in case["deadlines"]:
        if d["name"] not in by_name:
            names.append(d["name"])
        closed = d["met"] or d["ended"]
        status = deadline_status(date.fromisoformat(d["due"]), date.fromisoformat(d["met"]) if d["met"] else None,
                                 date.fromisoformat(d["ended"]) if d["ended"] else None, as_of)
        lane = f"deadline: {d['name']}"
        # A cancelled deadline stops on the day it was cancelled (not its due
        # date), drawn as an outline labelled 'cancelled'.
        stopped = d["ended"] if status == "cancelled" and d["ended"] else d["due"]
        item = {"kind": "deadline", "lane": lane, "start": _ms(d["opened"]), "end": _ms(stopped) + 86_400_000,
                "status": status, "label": "cancelled" if status == "cancelled" else "", "date": d["opened"],
                "met": _ms(d["met"]) if d["met"] and status in ("met", "late") else None,
                "stop": (_ms(d["met"]) if status == "late" else _ms(d["ended"]) if status == "missed"
                         else _ms(as_of) if status == "overdue" and as_of else None),
                "what": f"{d['name']}: {status}", "rules": d["rule"] or "",
                "when": f"opened {d['opened']}, due {d['due']}" + (f", met {d['met']}" if d["met"] else "")
                + (f", ended {d['ended']}" if d["ended"] and not d["met"] else ""),
                "citation": cite(d["rule"]) if d.get("rule") else "",
                "aria": f"deadline {d['name']} opened {d['opened']}, due {d['due']}: {status}"
                + (f" on {closed}" if status == "cancelled" and closed else f" ({closed})" if closed else "")}
        item["edge"] = max(item["end"], item["stop"] or 0) + (
            (LABEL_PX * len(item["label"]) + 12) * ms_per_px if item["label"] else 0)
        by_name.setdefault(d["name"], []).append(item)
    for name in names:
        counts[f"deadline: {name}"] = max(1, _slots(by_name[name], "start", "edge"))
        data.extend(by_name[name])
    lanes = [*LANES, *(f"deadline: {n}" for n in names)]
    # A lane with things on top of each other (the same day, or labels that
    # would run into each other) gets more rows: SUBLANE marks the extra ones,
    # whose axis label is left blank.
    rows = [lane + SUBLANE * k for lane in lanes for k in range(counts.get(lane, 1))]
    for d in data:
        d["row"] = d["lane"] + SUBLANE * d.get("slot", 0)
    data[:0] = [{"kind": "lane", "row": lane + SUBLANE * k, "lane": lane, "start": _ms(t0), "end": _ms(t1)}
                for i, lane in enumerate(lanes) if i % 2 for k in range(counts.get(lane, 1))]
    x = {"field": "start", "type": "temporal", "title": None,
         "scale": {"type": "utc"},
         "axis": {"format": "%-d %b %Y", "labelAngle": 0, "grid": True, "tickCount": 6,
                  "labelOverlap": "greedy", "labelSeparation": 12, "orient": "top"}}
    y = {"field": "row", "type": "nominal", "sort": rows, "scale": {"domain": rows, "paddingInner": 0},
         "title": None, "axis": {"labelLimit": 200, "ticks": False,
                                 "labelExpr": f"indexof(datum.label, '{SUBLANE}') >= 0 ? '' : datum.label"}}
    tip = [{"field": "what", "title": "what"}, {"field": "when", "title": "when"},
           {"field": "rules", "title": "rule"}, {"field": "citation", "title": "citation"}]

    def only(cond):
        return [{"filter": cond}]

    point = {"x": {**x, "field": "at"}, "y": y, "tooltip": tip, "description": {"field": "aria"}}
    label = {"x": {**x, "field": "at"}, "y": y, "text": {"field": "label"}}
    coloured = [s for s in STATUS_COLOURS if s != "cancelled"]  # a cancelled one is an outline, not a colour
    status_colour = {"field": "status", "type": "nominal", "title": "deadline status",
                     "scale": {"domain": coloured, "range": [STATUS_COLOURS[s] for s in coloured]}}
    layer = [
        {"transform": only("datum.kind === 'lane'"), "mark": {"type": "bar", "color": "#f3f4f7", "aria": False},
         "encoding": {"x": {**x, "scale": {"type": "utc", "domain": [_ms(t0), _ms(t1)]}},
                      "x2": {"field": "end"}, "y": y}},
        {"transform": only("datum.kind === 'state'"),
         "mark": {"type": "bar", "tooltip": True, "cornerRadius": 2},
         "encoding": {"x": x, "x2": {"field": "end"}, "y": y,
                      "color": {"condition": {"test": "datum.tone === 1", "value": "#b9cbe3"}, "value": "#d9e3f0"},
                      "tooltip": tip, "description": {"field": "aria"}}},
        {"transform": only("datum.kind === 'state' || datum.kind === 'statelabel'"),
         "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 10, "tooltip": True},
         "encoding": {"x": x, "y": y, "text": {"field": "label"}, "tooltip": tip}},
        {"transform": only("datum.kind === 'deadline' && datum.status !== 'cancelled'"),
         "mark": {"type": "bar", "tooltip": True, "height": {"band": 0.6}, "cornerRadius": 2},
         "encoding": {"x": x, "x2": {"field": "end"}, "y": y, "color": status_colour,
                      "tooltip": tip, "description": {"field": "aria"}}},
        {"transform": only("datum.kind === 'deadline' && datum.status === 'cancelled'"),
         "mark": {"type": "bar", "tooltip": True, "height": {"band": 0.6}, "cornerRadius": 2, "fill": "#ffffff",
                  "stroke": "#6b7280", "strokeDash": [3, 2], "strokeWidth": 1.5},
         "encoding": {"x": x, "x2": {"field": "end"}, "y": y, "tooltip": tip, "description": {"field": "aria"}}},
        {"transform": only("datum.kind === 'deadline' && datum.status === 'cancelled'"),
         "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 4, "fontSize": 10,
                  "fontStyle": "italic", "color": "#4a5568"},
         "encoding": {"x": {**x, "field": "end"}, "y": y, "text": {"field": "label"}}},
        {"transform": only("datum.kind === 'deadline' && isValid(datum.stop)"),
         "mark": {"type": "rule", "strokeDash": [3, 2], "strokeWidth": 2},
         "encoding": {"x": {**x, "field": "end"}, "x2": {"field": "stop"}, "y": y,
                      "color": status_colour}},
        {"transform": only("datum.kind === 'deadline' && isValid(datum.met)"),
         "mark": {"type": "point", "filled": True, "size": 28, "color": "#1d2330"},
         "encoding": {"x": {**x, "field": "met"}, "y": y,
                      "tooltip": tip}},
        {"transform": only("datum.kind === 'deadline' && (datum.status === 'missed' || datum.status === 'overdue')"),
         "mark": {"type": "point", "shape": "cross", "filled": True, "size": 60},
         "encoding": {"x": {**x, "field": "stop"}, "y": y, "color": status_colour,
                      "tooltip": tip}},
        {"transform": only("datum.kind === 'event'"),
         "mark": {"type": "point", "filled": True, "size": 30, "color": "#264653", "tooltip": True},
         "encoding": point},
        {"transform": only("datum.kind === 'refusal'"),
         "mark": {"type": "point", "shape": "cross", "filled": True, "size": 90, "color": "#b42318",
                  "tooltip": True},
         "encoding": point},
        {"transform": only("datum.kind === 'exception'"),
         "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 70, "color": "#6d28d9",
                  "tooltip": True},
         "encoding": point},
        {"transform": only("datum.kind === 'advice'"),
         "mark": {"type": "point", "shape": "triangle-up", "filled": True, "size": 60, "color": "#b7791f",
                  "tooltip": True},
         "encoding": point},
        {"transform": only("(datum.kind === 'refusal' || datum.kind === 'exception' || datum.kind === 'advice')"
                           " && !datum.flip"),
         "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 7, "fontSize": 10,
                  "color": "#1d2330"},
         "encoding": label},
        {"transform": only("(datum.kind === 'refusal' || datum.kind === 'exception' || datum.kind === 'advice')"
                           " && datum.flip"),
         "mark": {"type": "text", "align": "right", "baseline": "middle", "dx": -7, "fontSize": 10,
                  "color": "#1d2330"},
         "encoding": label},
    ]
    for one in layer:  # nothing past the domain's ends (an open deadline due after the window)
        one["mark"]["clip"] = True
    spec = _spec(
        f"Timeline of case {case['id']} under {case['authority']}: its states, {len(case['events'])} events "
        f"({sum(not e['accepted'] for e in case['events'])} refused) and {len(case['deadlines'])} deadlines on a date "
        "axis.",
        {"data": {"values": data}, "width": width, "height": {"step": 20},
         "layer": layer})
    refused = sum(not e["accepted"] for e in case["events"])
    caption = (f"Case {case['id']} under {case['authority']}; its state at the end: {state_words(case['state'])}. "
               "The chart runs from its first event to its last (or the window's end, if it is still open). The top "
               "lane shows its states (a state too short to name in its band is named just below it); "
               "below it every accepted event is a dot, every refused event a red cross (labelled with the "
               "rules that refused it), every authorised exception a purple diamond and every piece of advice an "
               "amber triangle, each in its own lane, so nothing hides under another event on the same day. Each "
               "deadline lane shows its occurrences from the day they opened to the day they were due, coloured by "
               "status: a dot marks the day it was met, a dashed tail how late it was, a cross the day it was "
               "missed or the window's end for an overdue one; a cancelled one is a dashed outline labelled "
               f"'cancelled', ending the day it was cancelled. {refused} event(s) were refused.")
    erows = []
    for e in case["events"]:
        rules = [r["rule"] for r in e["refusals"]] or e.get("reasons") or []
        erows.append([e["date"], e["event"], "accepted" if e["accepted"] else "refused",
                      e["from"] if e["from"] == e["to"] else f"{e['from']} → {e['to']}",
                      "; ".join(cite(r) for r in rules) or "-",
                      "; ".join(cite(r["rule"]) + (f" by {r['role']}" if r.get("role") else "")
                                for r in e.get("exceptions") or []) or "-",
                      "; ".join(cite(r["rule"]) for r in e.get("advice") or []) or "-"])
    table = _table(["date", "event", "outcome", "state", "refused by", "exceptions used", "advice"], erows)
    drows = [[d["name"], d["opened"], d["due"], d["met"] or "-", d["ended"] or "-",
              deadline_status(date.fromisoformat(d["due"]), date.fromisoformat(d["met"]) if d["met"] else None,
                              date.fromisoformat(d["ended"]) if d["ended"] else None, as_of),
              cite(d["rule"]) if d.get("rule") else "-"] for d in case["deadlines"]]
    fig = _figure("timeline", spec, caption, table)
    fig["tables"] = [_table(["deadline", "opened", "due", "met", "ended", "status", "rule"], drows, "Deadlines")]
    return fig


# -- the page -------------------------------------------------------------------------

def notes(summary: dict) -> list[str]:
    out = []
    w = summary.get("window")
    if isinstance(w, dict):
        span = f"figures count the window [{w['start']}, {w['end']}) only: from {w['start']} up to, not including, {w['end']}."
        if w.get("warm_up_months"):
            out.append(f"Warm-up: the run began with {w['warm_up_months']} months of warm-up from {w['warm_up_start']}, "
                       f"so the window starts with a realistic open caseload; {span}")
        else:
            out.append(f"No warm-up: the window starts with no open cases, so its early months understate the "
                       f"caseload; {span}")
    r = summary.get("replicates")
    if isinstance(r, dict):
        seeds = r.get("seeds") or []
        stored = r.get("stored_seed", seeds[0] if seeds else None)
        interval = r.get("interval")
        out.append(f"Replicates: {r.get('n', len(seeds))} runs (seeds {', '.join(map(str, seeds))}). A figure shown "
                   f"as median [low–high] is the median and the "
                   + (f"{interval:.0%} " if isinstance(interval, (int, float)) else "")
                   + "interval over them. The stored cases, behind the cohort flow and the case timeline, are from "
                   f"the first replicate{f' (seed {stored})' if stored is not None else ''}.")
    return out


def _summary_tables(summary: dict) -> list[dict]:
    auths = list(summary["authorities"])
    data = summary["authorities"]
    head = ["", *auths]

    def union(field):
        return sorted({k for a in auths for k in data[a].get(field, {})})

    out = [_table(head, [[st, *((f"{q['median']} / {q['p90']} (n={q['stays']:,})" if (q := data[a]["days_in_state"]
                                                                                       .get(st)) else "-")
                                for a in auths)] for st in union("days_in_state")],
                  "Days in each state: median / 90th percentile (completed stays)"),
           _table(head, [[f"RC{i}", *(f"{data[a].get('closures', {}).get(f'RC{i}', 0):,}" for a in auths)]
                         for i in range(1, 10)], "Closures by CIN census reason"),
           _table(head, [[st, *(f"{data[a].get('states_at_end', {}).get(st, 0):,}" for a in auths)]
                         for st in union("states_at_end")], "Cases by state at the end of the window")]
    rules = sorted({k for a in auths for f in ("refusals", "exceptions", "advice") for k in data[a].get(f, {})})
    out.append(_table(head, [[r, *(" / ".join(f"{data[a].get(f, {}).get(r, 0):,}" for f in ("refusals", "exceptions",
                                                                                           "advice")) for a in auths)]
                             for r in rules] or [["(none)", *("-" for _ in auths)]],
                      "Refusals / exceptions used / advice given, by rule"))
    bench = _benchmarks(summary)
    if bench:
        out.append(_table(["benchmark", "value", "what", "source"],
                          [[k, _num(v["value"]), v.get("label", ""), v.get("source", "")] for k, v in sorted(bench.items())],
                          "Benchmarks"))
    figures = (summary.get("replicates") or {}).get("figures") or {}
    if figures:
        out.append(_table(["authority", "figure", "this summary", "median [low–high]"],
                          [[a, key, _num(_get(data.get(a, {}), key)), interval_text(iv)]
                           for a in sorted(figures) for key in sorted(figures[a])
                           if (iv := replicate(summary, a, key))],
                          "Every figure with a replicate interval"))
    return out


def page(summary: dict, flow: dict, case: dict | None) -> dict:
    """What the script draws: notes, then sections of figures (a Vega-Lite
    spec, a caption and a table each) and tables."""
    sections = [
        {"id": "overview", "title": "Key figures", "intro": "The size of each authority's cohort and caseload.",
         "figures": [key_figures_figure(summary)]},
        {"id": "compliance-section", "title": "Deadline compliance",
         "intro": "How each authority's deadlines ended: met on time, late, overdue or missed, as shares of the "
                  "decided deadlines with their counts; open and cancelled deadlines are counted beside them.",
         "figures": [compliance_figure(summary)]},
        {"id": "workload-section", "title": "Monthly workload by role",
         "intro": "The work done each month, one panel per activity, and who did it over the window.",
         "figures": [workload_figure(summary), roles_figure(summary)]},
        {"id": "flow-section", "title": "Cohort flow",
         "intro": "From referral, through the first step, to where each case was at the end of the window.",
         "figures": [flow_figure(summary, flow)]},
    ]
    workforce = workforce_figures(summary)
    if workforce:
        said: dict[str, list[str]] = {}
        for a, s in summary["authorities"].items():
            if isinstance(s.get("workforce"), dict) and s["workforce"].get("assumptions"):
                said.setdefault(str(s["workforce"]["assumptions"]), []).append(a)
        assumptions = [f"Assumptions ({', '.join(who)}): {text}" for text, who in said.items()]
        sections.append({"id": "workforce-section", "title": "Workforce (modelled)",
                         "intro": "The staff time the simulated work would take, by role. These are assumptions "
                                  "(hours per activity, from the calibration's workload table, and hours per FTE), "
                                  "not staffing records.",
                         "notes": assumptions, "figures": workforce})
    if case is not None:
        sections.append({"id": "timeline-section", "title": "Case timeline",
                         "intro": f"Every event and deadline of case {case['id']}, on a date axis.",
                         "figures": [timeline_figure(case, summary)]})
    sections.append({"id": "tables", "title": "Tables", "intro": "The rest of the summary, side by side.",
                     "figures": [], "tables": _summary_tables(summary)})
    return {"notes": notes(summary), "sections": sections}


def seed_text(summary: dict) -> str:
    """The seed(s) behind the page: "seed 1", or with replicates "seeds 1–3,
    cases of seed 1" (the stored cases are the first replicate's)."""
    seed = (summary.get("parameters") or {}).get("seed")
    r = summary.get("replicates")
    seeds = list((r.get("seeds") or []) if isinstance(r, dict) else [])
    if not seeds:
        return f"seed {seed}"
    stored = r.get("stored_seed", seeds[0])
    if all(isinstance(x, int) for x in seeds) and seeds == list(range(seeds[0], seeds[0] + len(seeds))) \
            and len(seeds) > 1:
        span = f"seeds {seeds[0]}–{seeds[-1]}"
    else:
        span = f"seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return f"{span}, cases of seed {stored}"


def render(summary: dict, flow: dict, case: dict | None, simulation: int, recorded: int = 0) -> str:
    data = {"summary": summary, "flow": flow, "case": case, "simulation": simulation,
            "page": page(summary, flow, case)}
    payload = script_json(data)
    script = resources.files(__package__).joinpath("report.js").read_text(encoding="utf-8")
    style = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
    bundle = vega_bundle()
    # Only these two scripts run (Vega compiles its expressions, hence
    # 'unsafe-eval'); nothing is loaded from anywhere, not even an image.
    csp = (f"default-src 'none'; script-src {_sha256(bundle)} {_sha256(script)} 'unsafe-eval'; "
           "style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; form-action 'none'")
    p = summary["parameters"]
    title = (f"cinflow simulation {simulation}: {', '.join(p['authorities'])}, {p['referrals']:,} referrals "
             f"from {p['start']} for {p['months']} months ({seed_text(summary)})")
    contains, _ = banner(case, recorded)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{style}</style></head>
<body>
<header><h1>{html.escape(title)}</h1>
<p class="contains">{html.escape(contains)} Calibration: {html.escape(summary.get('calibration', ''))}.</p></header>
<nav id="contents" aria-label="Sections"></nav>
<div id="notes"></div>
<main id="main"><noscript><p>This page draws its charts and tables with its own inline scripts (nothing is loaded
from the network): allow scripts to see them.</p></noscript></main>
<script id="data" type="application/json">{payload}</script>
<script type="module">{bundle}</script>
<script type="module">{script}</script>
</body></html>
"""


class Written(NamedTuple):
    path: Path
    personal: bool  # the page holds real case data
    notice: str     # what it holds, in a few words for the command line


def write_report(db: Path, out: Path, case_id: str | None = None, simulation: int | None = None,
                 allow_incomplete: bool = False) -> Written:
    from .runner import require_finished

    from .parquet import open_run

    if isinstance(db, Path) and not db.exists():
        raise InputError(f"{db}: no such database")
    with open_run(db) as store:  # a database, or a simulation's --out folder of Parquet files
        store.check("no report was written")  # PRAGMA quick_check: a damaged database is one line
        require_finished(store, allow_incomplete)  # a run stopped part-way is refused unless asked for
        number, summary = load_summary(store, simulation)
        window = summary.get("window") if isinstance(summary.get("window"), dict) else None
        flow = cohort_flow(store, window)
        recorded = recorded_in_flow(store, window)
        case = case_timeline(store, case_id) if case_id else None
    if case is not None:
        case["citations"] = rule_citations(case)
    write_output(out, render(summary, flow, case, number, recorded))
    _, personal = banner(case, recorded)
    if not personal:
        notice = f"synthetic aggregates{', and case ' + case_id if case_id else ''}; no personal data"
    elif case is not None and case["provenance"] != "simulated":
        notice = f"with case {case_id}, a real case record: personal data, handle it accordingly"
    else:
        notice = f"its cohort flow counts {recorded:,} recorded (real) case(s): handle it as personal data"
    return Written(out, personal, notice)
