"""`cinflow report` on Vega-Lite: the chart specs built in Python (aligned,
summing to 100, with their own scales), the optional sections drawn only when
the summary has them, and the page drawn by headless Chromium with the network
off: every chart an SVG with marks, axes and labels, the refusal on the
timeline, nothing fetched.  Synthetic data only."""

import copy
import html
import json
import re
import shutil
import sqlite3
import subprocess
from datetime import date

import pytest

from cinflow.plugins import Registry
from cinflow.simulation import Parameters, simulate
from cinflow.simulation import report as R
from cinflow.store import Store

from helpers import chromium, run

REGISTRY = Registry.load()
START = date(2026, 4, 1)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    db = tmp_path_factory.mktemp("report") / "sim.db"
    summary = simulate(Parameters(("kent", "reading"), 300, START, 12, 3), db, REGISTRY, workers=1)
    return db, summary


@pytest.fixture(scope="module")
def refused_case(sim):
    """A case with a refused event (and, for choice, the most refusals)."""
    db, _ = sim
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT case_id FROM events WHERE accepted = 0 GROUP BY case_id "
                           "ORDER BY count(*) DESC, case_id LIMIT 1").fetchone()
    finally:
        conn.close()
    assert row, "the simulation refused nothing: pick a larger cohort"
    return row[0]


def enrich(summary: dict) -> dict:
    """The summary with the optional sections other parts of cinflow add: a
    warm-up window, replicates, a modelled workforce and benchmarks."""
    s = copy.deepcopy(summary)
    s["window"] = {"start": "2026-04-01", "end": "2027-04-01", "warm_up_months": 36, "warm_up_start": "2023-04-01"}
    figures = {}
    for a, auth in s["authorities"].items():
        met = auth["deadline_compliance"]["cin_review"]["met"]
        figures[a] = {"deadline_compliance.cin_review.met": {"median": met, "low": met - 7, "high": met + 9},
                      "plans_open_at_end": {"median": auth["plans_open_at_end"],
                                            "low": auth["plans_open_at_end"] - 4,
                                            "high": auth["plans_open_at_end"] + 5},
                      "workforce.fte.social_worker": {"median": 6.1, "low": 5.4, "high": 6.9}}
        auth["workforce"] = {"hours": {"social_worker": 9200.5, "team_manager": 1100.0, "iro": 310.25},
                             "fte": {"social_worker": 6.1, "team_manager": 0.7, "iro": 0.2},
                             "activities": {"social_worker": {"visits": 1200, "assessments": 180},
                                            "team_manager": {"manager decisions": 40}},
                             "caseload_per_fte": 14.3 if a == "kent" else None,
                             "national_caseload_per_fte": 15.2,
                             "assumptions": "45 minutes per visit, 1,517 hours a year per FTE (synthetic test values)"}
    s["replicates"] = {"n": 5, "seeds": [1, 2, 3, 4, 5], "interval": 0.9, "figures": figures}
    s["benchmarks"] = {"caseload_per_fte": {"value": 16.0, "label": "test benchmark", "source": "Test source A"},
                       "deadline:assessment": {"value": 0.82, "label": "test on-time rate",
                                               "source": "Test source B"}}
    return s


@pytest.fixture(scope="module")
def enriched_db(sim, tmp_path_factory):
    db, _ = sim
    copy_db = tmp_path_factory.mktemp("enriched") / "sim.db"
    shutil.copy(db, copy_db)
    conn = sqlite3.connect(copy_db)
    try:
        with conn:
            sid, text = conn.execute("SELECT id, summary FROM simulations").fetchone()
            conn.execute("UPDATE simulations SET summary = ? WHERE id = ?", [json.dumps(enrich(json.loads(text))), sid])
    finally:
        conn.close()
    return copy_db


def load(db, case_id=None):
    with Store(db, read_only=True) as store:
        _, summary = R.load_summary(store)
        flow = R.cohort_flow(store, summary.get("window"))
        case = R.case_timeline(store, case_id) if case_id else None
    if case is not None:
        case["citations"] = R.rule_citations(case, REGISTRY)
    return summary, flow, case


def figures(page: dict) -> dict[str, dict]:
    return {f["id"]: f for s in page["sections"] for f in s["figures"]}


# -- the spec builders, in plain Python ------------------------------------------------

@pytest.mark.parametrize("counts", [{"met": 1, "late": 1, "overdue": 1}, {"met": 232, "late": 20, "overdue": 2,
                                                                         "missed": 1},
                                    {"met": 0}, {"missed": 7}, {"met": 2, "late": 2, "overdue": 2, "missed": 1}])
def test_a_rows_percents_add_up_to_exactly_100(counts):
    sh = R.shares(counts)
    total = sum(counts.values())
    assert sum(p for _, p in sh.values()) == (100 if total else 0)
    assert abs(sum(x for x, _ in sh.values()) - (1 if total else 0)) < 1e-9
    for k, (exact, whole) in sh.items():
        assert abs(whole - 100 * exact) < 1, (k, exact, whole)


def test_compliance_rows_are_aligned_across_authorities(sim):
    _, summary = sim
    summary = copy.deepcopy(summary)
    del summary["authorities"]["reading"]["deadline_compliance"]["visit"]  # a deadline one procedure lacks
    names, rows = R.deadline_rows(summary)
    assert names == sorted(names) and "visit" in names
    for a in summary["authorities"]:
        mine = [r for r in rows if r["authority"] == a and r["kind"] in ("share", "na")]
        assert list(dict.fromkeys(r["deadline"] for r in mine)) == names  # same rows, same order
        for name in names:
            row = [r for r in mine if r["deadline"] == name]
            if row[0]["kind"] == "na":
                assert len(row) == 1 and row[0]["label"] == R.NOT_IN
                continue
            assert [r["status"] for r in row] == list(R.PCT_STATUSES)
            assert sum(r["pct"] for r in row) in (0, 100)
            assert all(re.fullmatch(r"\d+% \([\d,]+\)|none decided", r["label"]) for r in row)
    na = [r for r in rows if r["kind"] == "na"]
    assert [(r["authority"], r["deadline"]) for r in na] == [
        (a, n) for a in summary["authorities"] for n in names if n not in summary["authorities"][a]["deadline_compliance"]]
    side = [r for r in rows if r["kind"] == "side" and r["authority"] == "kent" and r["deadline"] == "visit"]
    c = summary["authorities"]["kent"]["deadline_compliance"]["visit"]
    assert side[0]["label"] == f"{c['open']:,} open · {c['cancelled']:,} cancelled"


def test_the_compliance_chart_has_percent_ticks_and_one_column_per_authority(sim):
    _, summary = sim
    spec = R.compliance_figure(summary)["spec"]
    assert spec["facet"]["column"]["field"] == "authority" and spec["resolve"]["scale"]["y"] == "shared"
    bar = spec["spec"]["layer"][0]
    assert bar["mark"]["type"] == "bar" and bar["encoding"]["x"]["axis"]["format"] == ".0%"
    assert bar["encoding"]["x"]["scale"]["domain"] == [0, 1] and bar["encoding"]["x"]["stack"] is None
    # a bar of its own for each status (never stacked into slivers), in every layer
    assert all(layer["encoding"]["yOffset"]["field"] == "status" for layer in spec["spec"]["layer"])
    texts = [layer for layer in spec["spec"]["layer"] if layer["mark"]["type"] == "text"]
    assert len(texts) >= 3  # every share is labelled (inside or beside its bar), and open/cancelled beside them


def test_workload_panels_each_have_their_own_scale(sim):
    _, summary = sim
    fig = R.workload_figure(summary)
    spec = fig["spec"]
    assert spec["resolve"]["scale"]["y"] == "independent"
    assert spec["facet"]["field"] == "activity"
    panels = spec["facet"]["sort"]
    # the six activities first (a panel all zeros is left out, and the caption says so)
    six = [a for a in R.WORKLOAD_ACTIVITIES if a in panels]
    assert panels[:len(six)] == six and len(panels) == len(set(panels))
    assert all(f"{a} " in fig["caption"] or f"{a} (" in fig["caption"] for a in R.WORKLOAD_ACTIVITIES
               if a not in panels)
    line = spec["spec"]["layer"][-1]
    assert line["encoding"]["x"]["type"] == "temporal" and line["encoding"]["color"]["field"] == "authority"
    months = {d["month_label"] for d in spec["data"]["values"]}
    assert months == {f"{2026 + (3 + i) // 12}-{(3 + i) % 12 + 1:02d}" for i in range(12)}
    # a conference count, when a summary has one, gets a panel of its own
    s = copy.deepcopy(summary)
    s["authorities"]["kent"]["workload"]["2026-06"]["activity"]["conferences"] = 3
    assert "conferences" in R.workload_figure(s)["spec"]["facet"]["sort"]


def test_every_spec_compiles_and_draws_marks_and_axes(sim, enriched_db, refused_case):
    import vl_convert

    db, _ = sim
    for source in (db, enriched_db):
        summary, flow, case = load(source, refused_case)
        for fig_id, fig in figures(R.page(summary, flow, case)).items():
            spec = fig["spec"]
            assert spec["description"] and fig["caption"] and fig["table"]["rows"], fig_id
            vl_convert.vegalite_to_vega(spec)  # raises on an invalid spec
            svg = vl_convert.vegalite_to_svg(spec)
            assert "role-mark" in svg and "role-axis-label" in svg, fig_id


def test_optional_sections_only_when_the_summary_has_them(sim, enriched_db):
    db, plain = sim
    base = copy.deepcopy(plain)
    for key in ("window", "replicates", "benchmarks"):
        base.pop(key, None)
    for auth in base["authorities"].values():
        auth.pop("workforce", None)
    page = R.page(base, {}, None)
    assert page["notes"] == [] and not {"workforce", "activities", "caseload"} & set(figures(page))
    assert "workforce-section" not in [s["id"] for s in page["sections"]]
    # a workforce with activities only (no hours, FTE or caseload yet): that chart alone, nothing empty
    for auth in base["authorities"].values():
        auth["workforce"] = {"hours": {}, "fte": {}, "activities": {"social_worker": {"visit": 10}, "iro": {"icpc": 2}},
                             "caseload_per_fte": None, "national_caseload_per_fte": None, "assumptions": "activities only"}
    page = R.page(base, {}, None)
    assert {"workforce", "activities", "caseload"} & set(figures(page)) == {"activities"}
    section = next(s for s in page["sections"] if s["id"] == "workforce-section")
    assert section["notes"] == ["Assumptions (kent, reading): activities only"]

    summary, flow, _ = load(enriched_db)
    page = R.page(summary, flow, None)
    warm, reps = page["notes"]
    assert "36 months of warm-up from 2023-04-01" in warm and "[2026-04-01, 2027-04-01)" in warm
    assert "5 runs" in reps and "first replicate (seed 1)" in reps and "90%" in reps
    figs = figures(page)
    kent = summary["authorities"]["kent"]
    met = kent["deadline_compliance"]["cin_review"]["met"]
    labels = [r["label"] for r in figs["compliance"]["spec"]["data"]["values"]
              if r["kind"] == "share" and r["authority"] == "kent" and r["deadline"] == "cin_review"]
    assert labels[0].endswith(f"({met} [{met - 7}–{met + 9}])")
    assert any(r["kind"] == "benchmark" and r["value"] == 0.82 for r in figs["compliance"]["spec"]["data"]["values"])
    assert "Test source B" in figs["compliance"]["caption"]
    plans = [d for d in figs["key-figures"]["spec"]["data"]["values"]
             if d["measure"] == "plans open at the end" and d["authority"] == "kent"][0]
    assert plans["low"] == kent["plans_open_at_end"] - 4 and "[" in plans["label"]
    assert any(layer["mark"]["type"] == "rule" for layer in figs["key-figures"]["spec"]["spec"]["layer"])
    wf = figs["workforce"]["spec"]
    assert wf["resolve"]["scale"]["x"] == "independent"
    sw = [d for d in wf["data"]["values"] if d["role"] == "social_worker" and d["measure"] == "FTE"]
    assert {d["label"] for d in sw} == {"6.1 [5.4–6.9]"}
    rules = [d for d in figs["caseload"]["spec"]["data"]["values"] if d["kind"] == "rule"]
    assert {d["value"] for d in rules} == {15.2, 16.0} and "Test source A" in figs["caseload"]["caption"]
    reading = [d for d in figs["caseload"]["spec"]["data"]["values"] if d.get("authority") == "reading"][0]
    assert reading["kind"] == "na" and reading["label"] == "not known"
    section = next(s for s in page["sections"] if s["id"] == "workforce-section")
    assert any("synthetic test values" in n for n in section["notes"]) and "assumptions" in section["intro"]


def test_the_timeline_gives_a_refusal_its_own_lane_with_its_rule_and_citation(sim, refused_case):
    db, _ = sim
    summary, flow, case = load(db, refused_case)
    fig = R.timeline_figure(case, summary)
    rows = fig["spec"]["data"]["values"]
    refused = [r for r in rows if r["kind"] == "refusal"]
    assert refused and len(refused) == sum(not e["accepted"] for e in case["events"])
    for r in refused:
        assert r["lane"] == "refused" and r["rules"] and r["rules"] in r["label"] and r["rules"].split(", ")[0] in r["aria"]
        assert r["citation"]  # the installed policy's citation
    y = fig["spec"]["layer"][0]["encoding"]["y"]
    # the state lane (with, below it, a row for the names of states too short to name in their bands), then events
    assert y["field"] == "row" and [r for r in y["scale"]["domain"] if R.SUBLANE not in r][:2] == ["state", "events"]
    x = fig["spec"]["layer"][1]["encoding"]["x"]
    assert x["type"] == "temporal" and x["scale"]["type"] == "utc"
    deadlines = [r for r in rows if r["kind"] == "deadline"]
    assert len(deadlines) == len(case["deadlines"]) and all(r["end"] > r["start"] for r in deadlines)
    # marks that would overlap (one lane, one day) get rows of their own
    by_row = {}
    for r in rows:
        if r["kind"] in ("event", "refusal"):
            by_row.setdefault((r["row"], r["start"]), []).append(r)
    assert all(len(v) == 1 for v in by_row.values())


def test_citations_fall_back_to_the_stored_ones_and_then_to_the_rule_id():
    case = {"authority": "no-such-council", "events": [
        {"refusals": [{"rule": "x.one", "source": "Doc 1 §2"}, {"rule": "x.two", "source": None}],
         "exceptions": [], "advice": []}], "deadlines": []}
    assert R.rule_citations(case, REGISTRY) == {"x.one": "Doc 1 §2"}


def test_a_recorded_cases_exception_reasons_and_messages_stay_out():
    text = json.dumps([{"rule": "r", "role": "team_manager", "reason": "Gran phoned", "source": "S", "message": "m"}])
    assert R._rule_items(text, False, ("role", "reason")) == [{"rule": "r", "source": "S", "role": "team_manager"}]
    assert R._rule_items(text, False, ("message",)) == [{"rule": "r", "source": "S"}]
    assert R._rule_items(text, True, ("role", "reason"))[0]["reason"] == "Gran phoned"


def test_the_page_is_one_deterministic_offline_file(sim, refused_case, tmp_path):
    db, _ = sim
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    R.write_report(db, a, refused_case)
    R.write_report(db, b, refused_case)
    page = a.read_text(encoding="utf-8")
    assert page == b.read_text(encoding="utf-8")
    markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", page, flags=re.S)  # the page less its code
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", markup, re.I)
    assert not re.search(r"<(?:link|img|iframe|object|embed|base)\b", markup, re.I)
    assert not re.search(r"\bsrc\s*=", markup, re.I)  # every script is inline
    assert re.search(r"""<meta http-equiv="Content-Security-Policy" content="default-src 'none'; """, page)
    assert page.count("<script") == 3 and page.count('type="module"') == 2
    payload = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert "2026-" in payload and not re.search(r"20\d\d-\d\d-\d\dT\d\d:\d\d", payload + markup)  # no timestamps


# -- drawn by Chromium, offline ----------------------------------------------------------

def draw(page_path, tmp_path) -> str:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                             "--dump-dom", page_path.as_uri()], capture_output=True, text=True, timeout=180)
    assert result.stdout, result.stderr[-2000:]
    return result.stdout


def charts(dom: str) -> dict[str, str]:
    """Each chart container's markup, by id."""
    out = {}
    for m in re.finditer(r'<div class="chart[^"]*" id="([^"]+)"', dom):
        out[m.group(1)] = dom[m.start():].split("<figcaption", 1)[0]
    return out


def expected(db, case_id=None) -> set[str]:
    return set(figures(R.page(*load(db, case_id))))


def assert_drawn(dom: str, expected: set[str]):
    body = re.search(r"<body[^>]*>", dom).group(0)
    n = re.search(r'data-figures="(\d+)"', body).group(1)
    assert f'data-charts="{n}"' in body, body
    found = charts(dom)
    assert set(found) == expected
    for chart_id, markup in found.items():
        head = markup.split(">", 1)[0]
        assert 'data-drawn="yes"' in head, (chart_id, head)
        assert "<svg" in markup and markup.count("role-mark") >= 2, chart_id
        assert "role-axis" in markup and "role-axis-label" in markup, chart_id
        labels = re.findall(r'class="mark-text role-axis-label"[^>]*>(.*?)</g>', markup, re.S)
        assert any(re.search(r"<text[^>]*>[^<]+</text>", g) for g in labels), chart_id
        assert re.search(r'aria-label="[^"]+"', head), chart_id
    # every chart has a caption and a table of its numbers
    assert dom.count("<figcaption") == len(found) and dom.count('<details class="numbers"') == len(found)


@pytest.mark.oracle
def test_chromium_draws_every_chart_offline(sim, tmp_path, capsys):
    db, _ = sim
    out = tmp_path / "report.html"
    code, msg, _ = run(["report", str(db), "--html", str(out)], capsys)
    assert code == 0 and "no personal data" in msg
    dom = draw(out, tmp_path)
    ids = expected(db)
    assert {"key-figures", "compliance", "workload", "roles", "flow"} <= ids and "timeline" not in ids
    assert_drawn(dom, ids)
    compliance = charts(dom)["compliance"]
    assert re.search(r">\d+%<", compliance) and re.search(r">\d+% \(\d+\)<", compliance)  # % ticks; labels
    assert "No warm-up" in dom and "Replicates" not in dom


@pytest.mark.oracle
def test_chromium_draws_the_timeline_with_its_refusal(sim, refused_case, tmp_path, capsys):
    db, _ = sim
    out = tmp_path / "report.html"
    code, _, _ = run(["report", str(db), "--html", str(out), "--case", refused_case], capsys)
    assert code == 0
    dom = draw(out, tmp_path)
    ids = expected(db, refused_case)
    assert {"key-figures", "compliance", "workload", "roles", "flow", "timeline"} <= ids
    assert_drawn(dom, ids)
    timeline = charts(dom)["timeline"]
    with Store(db, read_only=True) as store:
        rule = json.loads(next(store.db.query("SELECT reasons FROM events WHERE case_id = ? AND accepted = 0",
                                              [refused_case]))["reasons"])[0]["rule"]
    # the refusal is a mark of its own, its rule in its accessible label, and labelled in the chart
    assert re.search(r'aria-label="[^"]*refused by [^"]*' + re.escape(rule), timeline)
    assert f"refused: {rule}" in timeline
    assert re.search(r">\d{1,2} [A-Z][a-z]{2} 20\d\d<", timeline)  # a date axis


@pytest.mark.oracle
def test_chromium_draws_the_optional_sections(enriched_db, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, _, _ = run(["report", str(enriched_db), "--html", str(out)], capsys)
    assert code == 0
    dom = draw(out, tmp_path)
    ids = expected(enriched_db)
    assert {"key-figures", "compliance", "workload", "roles", "flow", "workforce", "activities", "caseload"} <= ids
    assert_drawn(dom, ids)
    assert "36 months of warm-up from 2023-04-01" in dom and "first replicate (seed 1)" in dom
    assert "6.1 [5.4–6.9]" in charts(dom)["workforce"]  # drawn as a label on the chart
    assert re.search(r"\d+ \[\d+–\d+\]", charts(dom)["key-figures"])
    assert "national average: 15.2" in charts(dom)["caseload"] and "Test source A" in dom


# Run first (a classic script in <head>, before the page's modules): note every
# request made through a script API; at the end, add what the browser loaded.
WATCH = """<script>window.__asked = [];
(function () {
  const note = (what) => function (url) { window.__asked.push(what + " " + String(url)); };
  const wrap = (obj, name, what) => { const f = obj[name]; obj[name] = function () {
    note(what)(arguments[0]); return f.apply(this, arguments); }; };
  wrap(window, "fetch", "fetch");
  wrap(XMLHttpRequest.prototype, "open", "xhr");
  wrap(navigator, "sendBeacon", "beacon");
  wrap(window, "open", "window.open");
  window.WebSocket = function (url) { note("websocket")(url); throw new Error("no"); };
  window.EventSource = function (url) { note("eventsource")(url); throw new Error("no"); };
})();</script>"""
REPORT = """<script type="module">const wait = () => document.body.dataset.charts ?
  document.body.setAttribute("data-requests", JSON.stringify(window.__asked.concat(
    performance.getEntriesByType("resource").map(e => e.name)))) : setTimeout(wait, 50); wait();</script>"""


@pytest.mark.oracle
def test_the_page_asks_for_nothing_from_the_network(sim, refused_case, tmp_path):
    """Drawn without its Content-Security-Policy (so that nothing is blocked
    and hidden), the page still makes no request: not through a script, and
    not as an element (the browser's own record of what it loaded is empty)."""
    db, _ = sim
    out = tmp_path / "report.html"
    R.write_report(db, out, refused_case)
    page = out.read_text(encoding="utf-8")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page, count=1)
    assert "</head>" in page.split("<script", 1)[0]
    page = page.replace("</head>", WATCH + "</head>", 1)
    head, tail = page.rsplit("</body>", 1)  # the page's own end (its code may hold the words too)
    bare = tmp_path / "bare.html"
    bare.write_text(head + REPORT + "</body>" + tail, encoding="utf-8")
    dom = draw(bare, tmp_path)
    body = re.search(r"<body[^>]*>", dom).group(0)
    n = re.search(r'data-figures="(\d+)"', body).group(1)
    assert f'data-charts="{n}"' in body and 'data-requests="[]"' in body, body
    # and the probe would have seen one
    canary = tmp_path / "canary.html"
    canary.write_text(head + "<script type=\"module\">fetch('https://example.invalid/x').catch(() => 0);</script>"
                      + '<img alt="" src="https://example.invalid/y.png">' + REPORT + "</body>" + tail,
                      encoding="utf-8")
    body = re.search(r"<body[^>]*>", draw(canary, tmp_path)).group(0)
    assert "fetch https://example.invalid/x" in html.unescape(body) and "y.png" in body, body


# -- readability: ticks, legends, empty panels, wording, the case timeline ----------------

def test_quantitative_and_date_axes_drop_labels_that_would_overlap(sim, refused_case):
    for kind in ("axisQuantitative", "axisTemporal"):
        assert R.CONFIG[kind]["labelOverlap"] and R.CONFIG[kind]["labelSeparation"] >= 8
    assert R.CONFIG["axisQuantitative"]["tickCount"] <= 5
    db, _ = sim
    summary, _, case = load(db, refused_case)
    axis = R.timeline_figure(case, summary)["spec"]["layer"][1]["encoding"]["x"]["axis"]
    assert axis["labelOverlap"] and axis["tickCount"] <= 6


def test_the_workload_chart_has_one_legend_and_no_flat_zero_panel(sim):
    _, summary = sim
    s = copy.deepcopy(summary)
    for auth in s["authorities"].values():
        for month in auth["workload"].values():
            month["activity"]["reviews chaired by an IRO"] = 0
    fig = R.workload_figure(s)
    line = fig["spec"]["spec"]["layer"][-1]["encoding"]
    assert line["strokeDash"]["legend"] is None and line["shape"]["legend"] is None and "legend" not in line["color"]
    assert "reviews chaired by an IRO" not in fig["spec"]["facet"]["sort"]
    assert "None in this run" in fig["caption"] and "reviews chaired by an IRO" in fig["caption"]
    assert any(r[1] == "reviews chaired by an IRO" for r in fig["table"]["rows"])  # still in the table


def test_intervals_are_rounded_to_the_figures_precision_and_the_title_names_every_seed(enriched_db):
    assert R.interval_text({"median": 103, "low": 91.3, "high": 107.5}, True) == "103 [91–108]"
    assert R.interval_text({"median": 6.1, "low": 5.4, "high": 6.9}) == "6.1 [5.4–6.9]"
    summary, flow, _ = load(enriched_db)
    s = copy.deepcopy(summary)
    s["replicates"]["figures"]["kent"]["plans_open_at_end"] = {"median": 103, "low": 91.3, "high": 107.5}
    key = figures(R.page(s, flow, None))["key-figures"]["spec"]["data"]["values"]
    assert [d["label"] for d in key if d["measure"] == "plans open at the end" and d["authority"] == "kent"] == [
        "103 [91–108]"]
    pads = [d for d in key if d.get("pad")]
    assert all(d["value"] > 0 for d in pads)  # room for a label beside its bar
    assert R.seed_text(s) == "seeds 1–5, cases of seed 1" and R.seed_text({"parameters": {"seed": 4}}) == "seed 4"
    page = R.render(s, flow, None, 1)
    assert "seeds 1–5, cases of seed 1" in page.split("</title>")[0]
    hours = [d["label"] for d in figures(R.page(s, flow, None))["workforce"]["spec"]["data"]["values"]
             if d["measure"] == "hours"]
    assert hours and all(re.fullmatch(r"[\d,]+( \[[\d,]+–[\d,]+\])?", h) for h in hours)  # whole hours
    section = next(x for x in R.page(s, flow, None)["sections"] if x["id"] == "workforce-section")
    assert "minutes per activity" not in section["intro"] and "hours per activity" in section["intro"]


def test_the_cohort_flow_uses_words_and_counts_cases_still_at_referral(sim):
    db, summary = sim
    with Store(db, read_only=True) as store:
        flow = R.cohort_flow(store, summary.get("window"))
        waiting = next(store.db.query("SELECT count(*) AS n FROM cases WHERE state = 'referral'"))["n"]
    assert sum(f.get("referral|referral", 0) for f in flow.values()) == waiting
    fake = {"kent": {"initial_cin|transfer_out": 3, "referral|referral": 2}}
    spec = R.flow_figure({"authorities": {"kent": {}}}, fake)["spec"]
    cols = spec["spec"]["layer"][0]["encoding"]["x"]["sort"]
    rows = spec["spec"]["layer"][0]["encoding"]["y"]["sort"]
    assert cols == ["transfer out", "still at referral", "all end states"]
    assert rows == ["initial CIN meeting due", "no step yet", "all first steps"]
    assert not any("_" in str(d["step"]) + str(d["final"]) for d in spec["data"]["values"])
    total = [d for d in spec["data"]["values"] if d["step"] == "all first steps" and d["final"] == "all end states"]
    assert total[0]["n"] == 5


def synthetic_case():
    ev = lambda day, event, a, b, ok=True: {"date": day, "event": event, "accepted": ok, "from": a, "to": b,
                                            "detail": {}, "reasons": [], "refusals": [], "exceptions": [],
                                            "advice": []}
    return {"id": "t-1", "authority": "kent", "state": "closed", "provenance": "simulated", "citations": {},
            "events": [ev("2026-05-01", "referral_received", "new", "referral"),
                       ev("2026-05-03", "consent_given", "referral", "assessment"),
                       ev("2026-06-20", "assessment_completed", "assessment", "initial_cin"),
                       ev("2026-06-22", "cin_meeting", "initial_cin", "closed"),
                       ev("2026-06-30", "minutes_circulated", "closed", "closed")],
            "deadlines": [{"name": "assessment_update", "opened": "2026-06-20", "due": "2026-12-20", "met": None,
                           "ended": "2026-06-22", "rule": None, "source": None},
                          {"name": "assessment", "opened": "2026-05-01", "due": "2026-07-01", "met": "2026-06-20",
                           "ended": None, "rule": None, "source": None}]}


def test_the_timeline_fills_its_width_with_the_cases_life_and_names_every_state():
    summary = {"window": {"start": "2026-04-01", "end": "2027-04-01"}, "authorities": {}}
    fig = R.timeline_figure(synthetic_case(), summary)
    rows = fig["spec"]["data"]["values"]
    lo, hi = fig["spec"]["layer"][0]["encoding"]["x"]["scale"]["domain"]
    assert lo <= R._ms("2026-05-01") and R._ms("2026-06-30") <= hi <= R._ms("2026-08-15")  # not to April 2027
    assert all(layer["mark"].get("clip") for layer in fig["spec"]["layer"])
    states = [r for r in rows if r["kind"] == "state"]
    named = {r["start"] for r in rows if r["kind"] == "statelabel"}
    assert len(states) == 4 and all(r["label"] or r["start"] in named for r in states)  # no unnamed box
    assert {r["label"] for r in rows if r["kind"] in ("state", "statelabel") and r["label"]} >= {
        "referral", "assessment", "initial CIN meeting due", "closed"}
    cancelled = [r for r in rows if r["kind"] == "deadline" and r["status"] == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["label"] == "cancelled" and "cancelled" in cancelled[0]["aria"]
    assert cancelled[0]["end"] == R._ms("2026-06-23")  # the day after it ended, not its due date
    layers = [layer for layer in fig["spec"]["layer"] if "cancelled'" in layer["transform"][0]["filter"]
              and "===" in layer["transform"][0]["filter"].split("status")[-1]]
    assert {layer["mark"]["type"] for layer in layers} == {"bar", "text"}
    assert [layer["mark"].get("strokeDash") for layer in layers if layer["mark"]["type"] == "bar"] != [None]
    assert "its state at the end: closed" in fig["caption"] and "in closed at the end" not in fig["caption"]


# Run after the charts are drawn: for every chart, the axis labels (per axis)
# whose boxes overlap, and how many legends it has.
MEASURE = """<script type="module">const wait = () => { if (!document.body.dataset.charts) return setTimeout(wait, 50);
  const out = {};
  document.querySelectorAll(".chart").forEach((chart) => {
    const bad = [];
    chart.querySelectorAll("g.role-axis").forEach((axis) => {
      const boxes = Array.from(axis.querySelectorAll(".role-axis-label text")).filter((t) => t.textContent)
        .map((t) => [t.textContent, t.getBoundingClientRect()]);
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i][1], b = boxes[j][1];
        if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
          bad.push(boxes[i][0] + " / " + boxes[j][0]);
      }
    });
    out[chart.id] = {overlaps: bad, legends: chart.querySelectorAll("g.role-legend").length};
  });
  document.body.setAttribute("data-measured", JSON.stringify(out)); }; wait();</script>"""


@pytest.mark.oracle
def test_chromium_draws_no_overlapping_axis_labels_and_one_legend_per_chart(enriched_db, refused_case, tmp_path):
    out = tmp_path / "report.html"
    R.write_report(enriched_db, out, refused_case)
    head, tail = out.read_text(encoding="utf-8").rsplit("</body>", 1)
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", head, count=1) + MEASURE + "</body>" + tail
    probe = tmp_path / "probe.html"
    probe.write_text(page, encoding="utf-8")
    dom = draw(probe, tmp_path)
    measured = json.loads(html.unescape(re.search(r'data-measured="([^"]*)"', dom).group(1)))
    assert set(measured) == expected(enriched_db, refused_case)
    for chart_id, m in measured.items():
        assert m["overlaps"] == [], (chart_id, m["overlaps"])
        assert m["legends"] <= 1, (chart_id, m["legends"])
    timeline = charts(dom)["timeline"]
    with Store(enriched_db, read_only=True) as store:
        n = next(store.db.query("SELECT count(*) AS n FROM deadlines WHERE case_id = ? AND met_on IS NULL "
                                "AND ended_on IS NOT NULL AND ended_on < due", [refused_case]))["n"]
    if n:  # a cancelled deadline is drawn with its word
        assert re.search(r'aria-label="[^"]*: cancelled', timeline) and ">cancelled<" in timeline
