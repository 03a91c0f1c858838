"""Workload people plan with: activity by role, hours and FTE from the
calibration's workload table, the side-by-side headline, and intervals over
replicates.  Hand-built cases and hand-made summaries, worked out on paper."""

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

import cinflow
from cinflow.errors import InputError
from cinflow.plugins import Registry
from cinflow.simulation.calibration import Hours, Share, Workload, load_calibration
from cinflow.simulation.cohort import Cohort
from cinflow.simulation.draws import Generator
from cinflow.simulation.practice import Practitioner
from cinflow.simulation.stats import Tally, figures, intervals, quantile
from cinflow.simulation.tables import CSV_FILES, _get, headlines, tables, write_csv

REGISTRY = Registry.load()
START, LAST = date(2026, 1, 1), date(2026, 12, 31)  # the window: a calendar year
SHIPPED = Path(load_calibration.__code__.co_filename).parent / "england-2025.yaml"

TABLE = {"visit": {"social_worker": 1.5}, "initial_meeting": {"chair": 2, "social_worker": 3},
         "review": {"chair": 1, "social_worker": 2}, "icpc": {"chair": 3, "social_worker": 6},
         "cp_review": {"chair": 2, "social_worker": 4}, "minutes": {"chair": 1}, "assessment": {"social_worker": 8},
         "s47_enquiry": {"social_worker": 10}, "strategy_discussion": {"team_manager": 1},
         "manager_decision": {"decision_maker": 0.5}}


def calibration(table=TABLE, fte_hours=1000, share=0.5):
    """The shipped calibration with a small workload table: an FTE is 500 counted hours a year."""
    return evolve(load_calibration(), workload=Workload(Hours(table, "test"), Share(fte_hours, "test"),
                                                        Share(share, "test")))


def build(case_id, events, policy="kent"):
    p = REGISTRY[policy]
    case = p.new_case(case_id, cinflow.Child(birth_date=date(2014, 6, 12)))
    for name, day, attrs in events:
        case = p.apply(case, cinflow.event(name, day, **attrs))
        assert case.last.accepted, (case_id, name, day, case.last.reasons)
    return case


def e(name, day, **attrs):
    return name, day, attrs


PLAN = build("A-1", [  # referred in the window: a CIN plan, its meetings, minutes, visits and decisions
    e("referral_received", "2026-01-05"), e("consent_given", "2026-01-06"),
    e("assessment_completed", "2026-02-13", outcome="cin_plan"),
    e("cin_meeting", "2026-02-20", kind="initial", chair="team_manager", outcome="continue", next_review="2026-05-01"),
    e("minutes_circulated", "2026-02-24"),
    e("visit", "2026-03-02", seen_alone=True), e("visit", "2026-03-30", seen_alone=True),
    e("cin_meeting", "2026-04-24", kind="review", chair="team_manager", outcome="continue", next_review="2026-07-17"),
    e("minutes_circulated", "2026-04-28"),
    e("manager_decision", "2026-05-05", kind="closure_rationale", role="service_manager"),
    e("manager_decision", "2026-05-06", kind="closure_rationale"),  # no role recorded: a team manager's
])
PROTECTION = build("B-1", [  # an s47 enquiry, an initial conference that makes a CP plan, a review conference
    e("referral_received", "2026-03-02"), e("strategy_discussion", "2026-03-02"),
    e("s47_completed", "2026-03-16", outcome="icpc"), e("cp_plan_started", "2026-03-27", categories=("NEG",)),
    e("cp_review", "2026-06-19"),
])
CARRIED = build("C-1", [  # referred before the window: only its minutes and visit in January count
    e("referral_received", "2025-09-01"), e("consent_given", "2025-09-02"),
    e("assessment_completed", "2025-10-10", outcome="cin_plan"),
    e("cin_meeting", "2025-10-20", kind="initial", chair="team_manager", outcome="continue", next_review="2025-12-15"),
    e("cin_meeting", "2025-12-15", kind="review", chair="senior_practitioner", outcome="continue",
      next_review="2026-03-09"),
    e("minutes_circulated", "2026-01-05"),  # the December review's: its chair wrote them
    e("visit", "2026-01-12", seen_alone=True),
])
CASES = (PLAN, PROTECTION, CARRIED)


def tally(cases=CASES, start=START, last=LAST):
    t = Tally()
    for c in cases:
        t.add_case(c, last, start)
    return t


# -- counts by role, hours, FTE -------------------------------------------------------

def test_activities_by_role_from_hand_built_cases():
    wf = tally().summary(calibration())["workforce"]
    assert wf["activities"] == {
        "iro": {"cp_review": 1, "icpc": 1},  # conferences: chaired by an IRO/CP chair (assumption)
        "service_manager": {"manager_decision": 1},
        "senior_practitioner": {"minutes": 1},  # C-1's minutes: the chair of December's review
        "social_worker": {"assessment": 1, "cp_review": 1, "icpc": 1, "initial_meeting": 1, "review": 1,
                          "s47_enquiry": 1, "visit": 3},
        "team_manager": {"initial_meeting": 1, "manager_decision": 1, "minutes": 2, "review": 1,
                         "strategy_discussion": 1},
    }


def test_hours_by_role_from_a_small_table():
    s = tally().summary(calibration())
    wf = s["workforce"]
    # social worker: assessment 8 + 3 visits x 1.5 + initial 3 + review 2 + ICPC 6 + CP review 4 + s47 10
    # team manager: chairs the initial meeting 2 and the review 1, two minutes 2, strategy 1, a decision 0.5
    assert wf["hours"] == {"iro": 5.0, "service_manager": 0.5, "senior_practitioner": 1.0, "social_worker": 37.5,
                           "team_manager": 6.5}
    assert wf["hours_total"] == 50.5
    assert wf["activity_hours"]["social_worker"]["visit"] == 4.5
    march = s["workload"]["2026-03"]
    assert march["hours"] == {"iro": 3.0, "social_worker": 19.0, "team_manager": 1.0}  # 2 visits, s47, ICPC; strategy
    assert march["by_role"]["social_worker"] == {"icpc": 1, "s47_enquiry": 1, "visit": 2}
    assert s["workload_total"]["meetings"] == 4 and s["workload_total"]["initial conferences"] == 1
    assert s["workload"]["2026-01"]["hours"] == {"senior_practitioner": 1.0, "social_worker": 1.5}


def test_fte_and_caseload_arithmetic():
    wf = tally().summary(calibration())["workforce"]
    # FTE = hours a year / (1000 h x 0.5): a 12-month window
    assert wf["window_months"] == 12
    assert wf["fte"] == {"iro": 0.01, "service_manager": 0.001, "senior_practitioner": 0.002, "social_worker": 0.075,
                         "team_manager": 0.013}
    assert wf["fte_total"] == 0.101
    assert wf["cases_held_at_end"] == 3  # cin_plan, child_protection, cin_plan
    assert wf["caseload_per_fte"] == 40.0  # 3 / 0.075
    assert wf["national_caseload_per_fte"] == 15.2 and wf["national_caseload_source"].startswith("S10")


def test_a_shorter_window_is_scaled_to_a_year():
    half = tally(last=date(2026, 6, 30)).summary(calibration())["workforce"]
    assert half["window_months"] == 6
    # Hours in the window: everything above is dated by 27 March except the CP review (19 June), so all count.
    assert half["hours"]["social_worker"] == 37.5 and half["fte"]["social_worker"] == 0.15
    assert tally().summary(calibration(), months=6)["workforce"]["fte"]["social_worker"] == 0.15


def test_no_workload_table_means_no_hours_but_everything_else():
    s = tally().summary(evolve(load_calibration(), workload=None))
    wf = s["workforce"]
    assert wf["hours"] == {} and wf["fte"] == {} and wf["caseload_per_fte"] is None
    assert wf["activities"]["social_worker"]["visit"] == 3 and "hours" not in s["workload"]["2026-03"]
    assert tally().summary()["workforce"]["national_caseload_per_fte"] is None  # no calibration at all
    assert s["deadline_compliance"] and s["plans_open_at_end"] == 2


def test_a_role_takes_part_when_the_table_gives_it_time():
    table = {**TABLE, "minutes": {"social_worker": 0.75}}  # minutes by the worker, not the chair
    wf = tally().summary(calibration(table))["workforce"]
    assert wf["activities"]["social_worker"]["minutes"] == 3 and "minutes" not in wf["activities"]["team_manager"]
    assert wf["hours"]["social_worker"] == 37.5 + 2.25


# -- merging ----------------------------------------------------------------------------

def _simulated(n=40):
    cal = load_calibration()
    cohort = Cohort(cal, Generator(5), START, 12, n, 12)
    pr = Practitioner(REGISTRY["reading"], cal, Generator(5), LAST + timedelta(days=1))
    return [pr.run(cohort[i], f"r-{i}") for i in range(len(cohort))]


SIMULATED = _simulated()
WHOLE = json.dumps(tally(SIMULATED).summary(calibration()), sort_keys=True)


@settings(max_examples=40)
@given(st.data())
def test_any_partition_merged_in_any_order_gives_the_same_summary(data):
    groups = data.draw(st.lists(st.integers(0, 5), min_size=len(SIMULATED), max_size=len(SIMULATED)))
    parts = {}
    for case, g in zip(SIMULATED, groups):
        parts.setdefault(g, []).append(case)
    tallies = [tally(cases) for cases in parts.values()] + [Tally()]  # an empty chunk too
    order = data.draw(st.permutations(tallies))
    total = Tally()
    for t in order:
        total.merge(t)
    assert json.dumps(total.summary(calibration()), sort_keys=True) == WHOLE


def test_tallies_of_different_windows_do_not_merge():
    with pytest.raises(ValueError, match="different windows"):
        tally().merge(tally(last=date(2026, 6, 30)))


# -- the calibration's workload section ---------------------------------------------------

def test_the_shipped_table_labels_every_figure():
    cal = load_calibration()
    w = cal.workload
    assert w.fte_hours_per_year.value == 1550 and w.counted_share.value == 0.5
    for item in (w.hours, w.fte_hours_per_year, w.counted_share):
        assert item.source.startswith(("assumption:", "assumption fitted to "))
    assert cal.benchmarks.caseload_per_fte.value == 15.2 and cal.benchmarks.caseload_per_fte.source.startswith("S10")


@pytest.mark.parametrize("old, new, message", [
    ("visit: {social_worker: 1.5}", "visitt: {social_worker: 1.5}", "workload.hours: unknown activity 'visitt'"),
    ("visit: {social_worker: 1.5}", "visit: {chair: 1.5}", "workload.hours.visit: unknown role 'chair'"),
    ("visit: {social_worker: 1.5}", "visit: {social_worker: -1}",
     "workload.hours.visit.social_worker: -1 is not a number of hours"),
    ("manager_decision: {decision_maker: 0.5}", "manager_decision: {chair: 0.5}",
     "workload.hours.manager_decision: unknown role 'chair' (known: decision_maker or social_worker"),
    ("    value: 1550", "    value: 0", "workload.fte_hours_per_year: 0 is not a number of hours above 0"),
    ("    value: 0.5\n", "    value: 1.5\n", "workload.counted_share: 1.5 is not a share above 0 and at most 1"),
    ("    value: 15.2", "    value: -3", "benchmarks.caseload_per_fte: -3 is not a positive number"),
])
def test_a_bad_workload_section_is_one_line_naming_the_field(tmp_path, old, new, message):
    text = SHIPPED.read_text()
    assert text.count(old) == 1, old
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new))
    with pytest.raises(InputError) as err:
        load_calibration(bad)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{bad}: {message}"), str(err.value)


@pytest.mark.parametrize("value", ["lots", ".nan", "[1]"])
def test_a_workload_value_of_the_wrong_type_is_one_line(tmp_path, value):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SHIPPED.read_text().replace("visit: {social_worker: 1.5}", f"visit: {{social_worker: {value}}}"))
    with pytest.raises(InputError) as err:
        load_calibration(bad)
    message = str(err.value)
    assert "\n" not in message and "workload.hours" in message and "visit" in message and "social_worker" in message


def test_a_calibration_without_the_section_still_loads(tmp_path):
    text = SHIPPED.read_text()
    short = tmp_path / "short.yaml"
    short.write_text(text[:text.index("\nworkload:")])
    cal = load_calibration(short)
    assert cal.workload is None and cal.benchmarks is None
    assert tally().summary(cal)["workforce"]["hours"] == {}


# -- the headline -----------------------------------------------------------------------

def authority(reviews, visits, meetings, hours, fte, review_hours, months=12):
    return {"workload_total": {"reviews": reviews, "visits": visits, "meetings": meetings},
            "workforce": {"window_months": months, "hours": hours, "fte": fte, "fte_total": round(sum(fte.values()), 3),
                          "hours_total": sum(hours.values()),
                          "activity_hours": {r: {"review": h} for r, h in review_hours.items()}}}


TWO = {"parameters": {"months": 12}, "authorities": {
    "reading": authority(380, 1000, 500, {"social_worker": 2000.0, "team_manager": 760.0},
                         {"social_worker": 2.5, "team_manager": 1.0}, {"social_worker": 760.0, "team_manager": 380.0}),
    "west-berkshire": authority(200, 1000, 320, {"social_worker": 1640.0, "team_manager": 580.0},
                                {"social_worker": 2.1, "team_manager": 0.75},
                                {"social_worker": 400.0, "team_manager": 200.0}),
}}


def test_the_headline_for_two_authorities():
    assert headlines(TWO) == [
        "reading holds 1.9× west-berkshire's reviews for the same children: +180 meetings and +360 social-worker "
        "and +180 team-manager hours a year",
        "every authority makes the same number of visits for the same children (1,000 a year)",
        # every extra meeting is a review: no line of its own
        "reading needs 1.2× west-berkshire's modelled staff time for the same children: +0.65 FTE (3.50 against "
        "2.85), +360 social-worker and +180 team-manager hours a year",
    ]


def test_the_headline_scales_a_short_window_to_a_year_and_leads_the_tables():
    six = {"parameters": {"months": 6}, "authorities": {
        a: {**s, "workforce": {**s["workforce"], "window_months": 6}} for a, s in TWO["authorities"].items()}}
    assert headlines(six)[0].startswith("reading holds 1.9× west-berkshire's reviews for the same children: "
                                        "+360 meetings and +720 social-worker")
    assert headlines({"authorities": {"reading": TWO["authorities"]["reading"]}}) == []


def full_summary():
    """Two authorities through the same three hand-built cases (kent's procedure both times)."""
    cal = calibration()
    s = tally().summary(cal)
    fewer = tally((PROTECTION, CARRIED)).summary(cal)
    return {"parameters": {"months": 12}, "window": {}, "authorities": {"kent": s, "kent-lite": fewer}}


def render(summary) -> str:
    console = Console(width=240, record=True)
    for t in tables(summary):
        console.print(t)
    return console.export_text()


def test_the_tables_lead_with_the_difference():
    text = render(full_summary())
    order = [text.index(t) for t in ("Headline", "What the procedures change", "Workforce", "Activities a year by role",
                                     "Workload per month", "Hours per month by role", "Overview")]
    assert order == sorted(order)
    # no ratio to nothing; kent's review: chaired by a team manager (1 h) with the social worker (2 h)
    assert "kent holds 1 reviews a year for the same children, kent-lite none: +1 meetings and +2 social-worker " \
           "and +1 team-manager hours a year" in text
    assert "40.0" in text and "15.2" in text  # caseload per social-worker FTE, against S10's


# -- replicates ---------------------------------------------------------------------------

def test_figures_flattens_every_numeric_figure_by_its_path():
    s = tally().summary(calibration())
    f = figures(s)
    assert f["plans_open_at_end"] == 2 and f["workload_total.reviews"] == 1
    assert f["workforce.hours.social_worker"] == 37.5 and f["workforce.fte.social_worker"] == 0.075
    assert f["workforce.caseload_per_fte"] == 40.0 and f["workforce.activities.iro.icpc"] == 1
    assert f["workload.2026-03.hours.social_worker"] == 19.0
    assert f["states_at_end.child_protection"] == 1
    assert f["deadline_compliance.visit.met"] == s["deadline_compliance"]["visit"]["met"]
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in f.values())

    assert f["advice.kent.closure_rationale"] == 2  # a rule id keeps its dots
    assert all(_get(s, k) == v for k, v in f.items())  # every key is a path into the summary


def test_intervals_are_linear_interpolated_and_a_missing_figure_is_zero():
    assert quantile([5, 1, 4, 2, 3], 0.05) == pytest.approx(1.2)
    runs = [{"a": 1}, {"a": 2, "b": 10}, {"a": 3}, {"a": 4}, {"a": 5}]
    assert intervals(runs, 0.9) == {"a": {"median": 3.0, "low": 1.2, "high": 4.8},
                                    "b": {"median": 0.0, "low": 0.0, "high": 8.0}}
    assert intervals([{"a": 7}]) == {"a": {"median": 7.0, "low": 7.0, "high": 7.0}}
    with pytest.raises(ValueError):
        intervals(runs, 1.5)


def with_replicates(summary):
    runs = {a: [figures(s), {k: v * 1.1 for k, v in figures(s).items()}, {k: v * 0.8 for k, v in figures(s).items()}]
            for a, s in summary["authorities"].items()}
    return {**summary, "replicates": {"n": 3, "seeds": [1, 2, 3], "interval": 0.9,
                                      "figures": {a: intervals(r) for a, r in runs.items()}}}


def test_tables_show_median_and_interval_with_replicates(tmp_path):
    summary = with_replicates(full_summary())
    text = render(summary)
    # kent's social-worker hours: 37.5, 41.25, 30.0 -> median 37.5, 5% 30.75, 95% 40.875
    assert "38 [31–41]" in text
    titles = [t.title for t in tables(summary)]
    assert sum("medians [90% interval] over 3 replicates" in t for t in titles) == 2  # headline and workforce
    assert "0.07 [0.06–0.08]" in text  # social-worker FTE 0.075, 0.0825, 0.06
    write_csv(summary, tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / "replicates.csv").read_text())))
    assert rows[0] == ["authority", "figure", "median", "low", "high"]
    assert ["kent", "workforce.hours.social_worker", "37.5", "30.75", "40.875"] in rows


def test_csv_has_workforce_and_hours(tmp_path):
    summary = full_summary()
    written = write_csv(summary, tmp_path)
    assert [p.name for p in written] == list(CSV_FILES) and "workforce.csv" in CSV_FILES
    wf = list(csv.reader(io.StringIO((tmp_path / "workforce.csv").read_text())))
    assert wf[0] == ["authority", "role", "measure", "activity", "value"]
    assert ["kent", "social_worker", "activities", "visit", "3"] in wf
    assert ["kent", "social_worker", "hours", "", "37.5"] in wf and ["kent", "social_worker", "fte", "", "0.075"] in wf
    assert ["kent", "", "caseload_per_fte", "", "40.0"] in wf
    wl = list(csv.reader(io.StringIO((tmp_path / "workload.csv").read_text())))
    assert ["kent", "2026-03", "hours", "social_worker", "19.0"] in wl
    assert ["kent", "2026-03", "by_role", "iro: icpc", "1"] in wl
    assert (tmp_path / "replicates.csv").read_text().strip() == "authority,figure,median,low,high"
