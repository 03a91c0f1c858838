"""Validating a simulation against the published national figures.

A simulated England (the ``england`` policy, the statutory baseline alone)
at a fraction ``scale`` of the country, warmed up so that its caseload is in
a steady state, is exported as the DfE Children in Need census would see it
for one collection year, counted the way DfE counts, scaled back up and
compared with the figures in ``validation-england-2025.yaml``.

Everything is counted from the census's own episodes
(:func:`cinflow.census.episode_of` and :func:`cinflow.census.in_window`, as
:func:`cinflow.census.build` uses them), never from raw events, so the
validation checks what an analyst would get from the return.

**Episodes of need.**  DfE's episode counts leave out referrals with no
further action and children assessed as not in need (DfE 2025: episodes
starting 396,870 ~ referrals 632,830 x (1 - 6.5% - 30.8%)).  In a census
episode:

* *no further action* is ``Episode.nfa`` (the return's ``ReferralNFA``: a
  referral closed with no assessment, s47, plan or conference);
* *not in need* is a closure with reason **RC8** (closed after assessment,
  no further action) or **RC9** (closed after assessment, referred to early
  help): the reasons ``assessment_completed`` with outcome
  ``no_further_action`` / ``early_help`` gives (``cinflow/states/intake.py``).
  The assessment's outcome itself is not in the return, and the primary need
  code N0 is not used for it (the simulated cohort always draws N1-N9): the
  closure reason is the census's own mark.  An s47 enquiry that finds no
  further action closes RC7 (census rule 2990), so its episode counts as an
  episode of need, as DfE counts it.

An episode still open on 31 March counts whatever it later turns out to be:
DfE's table is made from the same return.  So, within one return, episodes
open at any point = CIN at 31 March + episodes ending (DfE 2025: 756,120 =
402,400 + 353,720 exactly).

**Durations** run from the referral date to the closure date (episodes), or
from the plan's start to 31 March (CP plans open then), in calendar months:
"up to 3 months" is on or before the day 3 months on (``add_months``), "6
months to under 1 year" is after 6 months and before 12.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Literal

import attrs
from attrs import evolve, frozen

from ..calendar import add_months, england
from ..census import collection_window, episode_of, in_window, store_rows
from ..errors import InputError, quote
from .calibration import load_data_file

DEFAULT = "validation-england-2025.yaml"
NOT_IN_NEED = ("RC8", "RC9")
SCALED_UNITS = ("count",)  # scaled up to England by 1/scale; other units are ratios already
UNITS = ("count", "share", "working_days", "cases_per_fte")

# How each figure is counted from the census episodes of collection year Y
# (window W = 1 April Y-1 to 31 March Y, reference date R = 31 March Y).
# "episode of need": not Episode.nfa and not closed RC8/RC9 (by R).
DEFINITIONS: dict[str, str] = {
    "episodes_open_any_point_not_looked_after": "as episodes_open_any_point, leaving out episodes looked after on R",
    "cin_not_looked_after_at_31_march": "as cin_at_31_march, leaving out episodes with an accepted became_looked_after "
                                        "dated on or before R",
    "cin_at_31_march": "episodes of need open on R (no closure on or before R; an episode still in assessment counts)",
    "awaiting_assessment_at_31_march": "episodes open on R with no assessment or s47 enquiry started by R and no CIN "
                                       "or CP plan (referred, not yet assessed: DfE's exact rule is not in the "
                                       "research note; an assessment under way is in_assessment_at_31_march)",
    "in_assessment_at_31_march": "diagnostic, no published figure: episodes open on R whose latest assessment (s47 "
                                 "ones included) has started but is not authorised",
    "episodes_starting": "episodes of need with the referral date in W",
    "episodes_ending": "episodes of need with the closure date in W",
    "episodes_open_any_point": "episodes of need in the return (open on some day of W)",
    "cin_ending_up_to_3_months": "share of episodes ending in W that closed on or before referral + 3 months",
    "cin_ending_3_to_6_months": "share of episodes ending in W: after referral + 3 months, on or before + 6 months",
    "cin_ending_6_to_12_months": "share of episodes ending in W: after referral + 6 months, before + 12 months",
    "cin_ending_1_to_2_years": "share of episodes ending in W: on or after referral + 12 months, before + 24 months",
    "cin_ending_2_years_and_over": "share of episodes ending in W: on or after referral + 24 months",
    "rc7_share_of_endings": "share of episodes of need ending in W with reason for closure RC7",
    "assessments_completed": "assessments (census Assessments modules, s47 ones included) authorised in W, in every "
                             "episode of the return (not-in-need ones too: DfE counts every completed assessment)",
    "s47_enquiries": "section 47 enquiries (census Section47 modules) starting in W",
    "icpcs": "initial child protection conferences (DateOfInitialCPC) in W",
    "icpc_within_15_days": "share of ICPCs in W held within 15 working days of the s47 start (England working days, "
                           "the start is day 0)",
    "cp_plans_starting": "CP plans with CPPstartDate in W",
    "cp_plans_ending": "CP plans with CPPendDate in W",
    "cp_plans_any_point": "CP plans in the return (open on some day of W)",
    "cp_plans_at_31_march": "CP plans with no end date on R",
    "cp_share_of_cin_not_looked_after": "cp_plans_at_31_march / cin_not_looked_after_at_31_march",
    "cp_share_of_cin_at_31_march": "cp_plans_at_31_march / cin_at_31_march",
    "cp_at_31_march_up_to_3_months": "share of CP plans open on R that started on or after R - 3 months",
    "cp_at_31_march_3_to_6_months": "share of CP plans open on R: R - 6 months <= start < R - 3 months",
    "cp_at_31_march_6_to_12_months": "share of CP plans open on R: R - 12 months < start < R - 6 months",
    "cp_at_31_march_1_to_2_years": "share of CP plans open on R: R - 24 months < start <= R - 12 months",
    "cp_at_31_march_2_years_and_over": "share of CP plans open on R that started on or before R - 24 months",
    "referrals": "episodes of the return with the referral date in W (NFA and not-in-need included)",
    "referral_nfa_share": "share of referrals in W flagged ReferralNFA by R",
    "not_in_need_share": "share of referrals in W closed RC8 or RC9 by R",
    "caseload_per_fte": "episodes open on 30 September Y-1 (any: a referral or assessment under way is a case held) / "
                        "the case-holding FTE at the simulated scale (needs an FTE: skipped without one)",
}

# The bands in the figures file are set for a run at this scale (1/20);
# their sampling part is at most this share of them (>= 5 SEs each).
REFERENCE_SCALE = 1 / 20
SAMPLING_SHARE = 0.2
# Runs smaller than this are smoke tests (the figures file's header).
SMALLEST_READ = 1 / 50

BANDS = ("up_to_3_months", "3_to_6_months", "6_to_12_months", "1_to_2_years", "2_years_and_over")


# -- the figures file -------------------------------------------------------------------

@frozen
class Tolerance:
    why: str
    ratio: tuple[float, float] | None = None
    points: float | None = None


@frozen
class Figure:
    id: str
    label: str
    value: float
    unit: str
    year: int
    source: str
    # context: shown beside the others but not judged (the model lacks what
    # the figure counts; its note says what)
    # fitted: judged, but a calibration assumption was fitted to reproduce it
    # (the calibration file says which), so it is no independent test
    kind: Literal["emergent", "fitted", "consistency", "context"]
    tolerance: Tolerance
    status: str = "DfE"
    note: str = ""
    requires: Literal["fte"] | None = None


@frozen
class Figures:
    name: str
    description: str
    figures: tuple[Figure, ...]


def load_figures(path: str | Path | None = None) -> Figures:
    """The named figures file, or the shipped England 2025 figures; a bad file
    is one line (:class:`InputError`)."""
    figures, where = load_data_file(path, DEFAULT, Figures, "figures")
    _check(figures, where)
    return figures


def _check(figures: Figures, where: str) -> None:
    if not figures.figures:
        raise InputError(f"{where}: no figures")
    seen = set()
    for i, f in enumerate(figures.figures):
        at = f"{where}: figures[{i}] ({f.id})"
        if f.id in seen:
            raise InputError(f"{at}: the id is used twice")
        seen.add(f.id)
        if f.id not in DEFINITIONS:
            raise InputError(f"{at}: no counting rule for this id (known: {', '.join(DEFINITIONS)})")
        if f.unit not in UNITS:
            raise InputError(f"{at}: unit {quote(f.unit)} is not one of: {', '.join(UNITS)}")
        if not f.source.strip():
            raise InputError(f"{at}: no source")
        if not f.tolerance.why.strip():
            raise InputError(f"{at}: the tolerance says no why")
        if f.value < 0 or (f.unit == "share" and f.value > 1):
            what = "share between 0 and 1" if f.unit == "share" else "number of 0 or more"
            raise InputError(f"{at}: value {f.value} is not a {what}")
        t = f.tolerance
        if (t.ratio is None) == (t.points is None):
            raise InputError(f"{at}: give the tolerance as one of ratio: [low, high] or points: N")
        if t.ratio is not None and not 0 <= t.ratio[0] <= 1 <= t.ratio[1]:
            raise InputError(f"{at}: ratio band {list(t.ratio)} must run from at most 1 to at least 1")
        if t.points is not None and (f.unit != "share" or t.points <= 0):
            raise InputError(f"{at}: points: N is a band for a share, N above 0")


# -- counting -----------------------------------------------------------------------------

def _months_band(start: date, end: date) -> str:
    """The DfE duration band of ``start`` to ``end``."""
    if end <= add_months(start, 3):
        return "up_to_3_months"
    if end <= add_months(start, 6):
        return "3_to_6_months"
    if end < add_months(start, 12):
        return "6_to_12_months"
    if end < add_months(start, 24):
        return "1_to_2_years"
    return "2_years_and_over"


def _not_in_need(ep, by: date) -> bool:
    return ep.closure is not None and ep.closure <= by and ep.reason in NOT_IN_NEED


def episodes(rows, year: int):
    """(whole episode, episode as the return carries it) per case in the
    collection year's return, exactly as :func:`cinflow.census.build` picks
    them."""
    start, reference = collection_window(year)
    for case_id, child, facts, events in rows:
        ep = episode_of(case_id, child, facts, events, reference)
        if ep is None:
            continue
        shown = in_window(ep, start)
        if shown is not None:
            looked_after = any(e["event"] == "became_looked_after" and e["accepted"] and e["date"] <= reference.isoformat()
                               for e in events)
            yield ep, shown, looked_after


def count_episodes(pairs, year: int, fte: float | None = None) -> dict[str, float]:
    """The figures of :data:`DEFINITIONS` from census episodes (see
    :func:`episodes`), at the simulated scale."""
    start, reference = collection_window(year)
    september = date(year - 1, 9, 30)
    wd = england()
    c: Counter = Counter()
    ending_bands: Counter = Counter()
    cp_bands: Counter = Counter()
    for whole, ep, *flags in pairs:
        looked_after = bool(flags and flags[0])  # became looked after by 31 March
        referred_in_window = start <= ep.referral <= reference
        if referred_in_window:
            c["referrals"] += 1
            c["referral_nfa"] += ep.nfa
            c["not_in_need"] += _not_in_need(ep, reference)
        for a in ep.assessments:
            if a.authorised is not None and start <= a.authorised <= reference:
                c["assessments_completed"] += 1
        for s in ep.s47s:
            if start <= s.start <= reference:
                c["s47_enquiries"] += 1
            if s.icpc is not None and start <= s.icpc <= reference:
                c["icpcs"] += 1
                c["icpc_within_15"] += wd.between(s.start, s.icpc) <= 15
        for p in ep.cp_plans:
            c["cp_plans_any_point"] += 1
            if start <= p.start <= reference:
                c["cp_plans_starting"] += 1
            if p.end is not None and start <= p.end <= reference:
                c["cp_plans_ending"] += 1
            if p.end is None:
                c["cp_plans_at_31_march"] += 1
                cp_bands[_months_band(p.start, reference)] += 1
        if ep.referral <= september and (ep.closure is None or ep.closure > september):
            c["open_30_september"] += 1  # a case a social worker holds, whatever it turns out to be
        if ep.nfa or _not_in_need(ep, reference):
            continue
        # -- an episode of need from here on
        c["episodes_open_any_point"] += 1
        c["episodes_open_any_point_not_looked_after"] += not looked_after
        c["episodes_starting"] += referred_in_window
        if ep.closure is None:
            c["cin_at_31_march"] += 1
            c["cin_not_looked_after_at_31_march"] += not looked_after
            if not whole.assessments and not whole.s47s and not whole.plans and not whole.cp_plans:
                c["awaiting_assessment_at_31_march"] += 1
            elif whole.assessments and whole.assessments[-1].authorised is None:
                c["in_assessment_at_31_march"] += 1
        else:
            c["episodes_ending"] += 1
            ending_bands[_months_band(ep.referral, ep.closure)] += 1
            c["rc7"] += ep.reason == "RC7"
    out: dict[str, float] = {k: float(c[k]) for k in (
        "cin_at_31_march", "cin_not_looked_after_at_31_march", "awaiting_assessment_at_31_march", "in_assessment_at_31_march", "episodes_starting",
        "episodes_ending", "episodes_open_any_point", "episodes_open_any_point_not_looked_after", "assessments_completed", "s47_enquiries", "icpcs",
        "cp_plans_starting", "cp_plans_ending", "cp_plans_any_point", "cp_plans_at_31_march", "referrals")}

    def share(n, d):
        return n / d if d else float("nan")

    for band in BANDS:
        out[f"cin_ending_{band}"] = share(ending_bands[band], c["episodes_ending"])
        out[f"cp_at_31_march_{band}"] = share(cp_bands[band], c["cp_plans_at_31_march"])
    out["rc7_share_of_endings"] = share(c["rc7"], c["episodes_ending"])
    out["icpc_within_15_days"] = share(c["icpc_within_15"], c["icpcs"])
    out["cp_share_of_cin_at_31_march"] = share(c["cp_plans_at_31_march"], c["cin_at_31_march"])
    out["cp_share_of_cin_not_looked_after"] = share(c["cp_plans_at_31_march"], c["cin_not_looked_after_at_31_march"])
    out["referral_nfa_share"] = share(c["referral_nfa"], c["referrals"])
    out["not_in_need_share"] = share(c["not_in_need"], c["referrals"])
    if fte:
        out["caseload_per_fte"] = c["open_30_september"] / fte
    return out


def count(store, year: int, authority: str | None = None, *, fte: float | None = None) -> dict[str, float]:
    """Every figure of :data:`DEFINITIONS` for collection ``year`` from one
    authority's cases in ``store``: counts at the simulated scale, shares as
    shares.  ``fte``: case-holding FTE at the simulated scale (without it,
    ``caseload_per_fte`` is left out).  A stopped simulation is refused."""
    from .runner import require_finished

    require_finished(store)
    return count_episodes(episodes(store_rows(store, authority), year), year, fte)


# -- comparing ----------------------------------------------------------------------------

@frozen
class Row:
    id: str
    label: str
    simulated: float | None  # scaled to England for counts; None: skipped
    published: float
    ratio: float | None
    band: str
    within: bool | None  # None: skipped
    kind: str
    source: str
    unit: str = "count"
    note: str = ""


def _widened(t: Tolerance, factor: float) -> Tolerance:
    if factor == 1:
        return t
    if t.ratio is not None:
        lo, hi = t.ratio
        return evolve(t, ratio=(max(0.0, 1 - (1 - lo) * factor), 1 + (hi - 1) * factor))
    return evolve(t, points=t.points * factor)


def widening(scale: float, reference: float = REFERENCE_SCALE) -> float:
    """How much wider the bands (set for a run at ``reference`` scale) are
    for a run at ``scale``.  Only their sampling part grows: a band holds at
    least five sampling standard errors at the reference scale (the figures
    file's header), so sampling is at most :data:`SAMPLING_SHARE` of it, and
    that part grows as 1/sqrt(n), i.e. sqrt(reference / scale).  The model-
    error part stays.  Never narrower than the file's bands."""
    return max(1.0, 1 + SAMPLING_SHARE * ((reference / scale) ** 0.5 - 1))


def smoke_test(scale: float) -> bool:
    """Whether a run at ``scale`` is too small to read against the bands at
    all (only a check that nothing is far out): below :data:`SMALLEST_READ`."""
    return scale < SMALLEST_READ - 1e-12


def _band_text(t: Tolerance) -> str:
    if t.ratio is not None:
        return f"{t.ratio[0]:.2f}-{t.ratio[1]:.2f}"
    return f"±{t.points:.3g} pts"


def compare(simulated: dict[str, float], published, scale: float, widen: float = 1.0) -> list[Row]:
    """One row per published figure (``published``: a :class:`Figures` or its
    figures): ``simulated`` (from :func:`count`) scaled up by 1/``scale``
    for counts, the ratio to the published value and whether it is in band.
    ``widen`` multiplies every band's half-width (a small run's sampling
    noise is larger: see :func:`widening`)."""
    if not scale > 0:
        raise InputError(f"scale must be above 0, got {scale}")
    figures = published.figures if isinstance(published, Figures) else tuple(published)
    rows = []
    for f in figures:
        t = _widened(f.tolerance, widen)
        raw = simulated.get(f.id)
        if raw is None or raw != raw:  # missing, or NaN (a share of nothing)
            why = ("skipped: no case-holding FTE given (nor a workforce in the run's summary)" if f.requires == "fte" and raw is None
                   else "skipped: nothing to count it from")
            rows.append(Row(f.id, f.label, None, f.value, None, _band_text(t), None, f.kind, f.source, f.unit,
                            why if not f.note else f"{why}; {f.note}"))
            continue
        value = raw / scale if f.unit in SCALED_UNITS else raw
        ratio = value / f.value if f.value else None
        if f.kind == "context":
            rows.append(Row(f.id, f.label, value, f.value, ratio, "not judged", None, f.kind, f.source, f.unit, f.note))
            continue
        if t.ratio is not None:
            within = ratio is not None and t.ratio[0] <= ratio <= t.ratio[1]
        else:
            within = abs(value - f.value) * 100 <= t.points + 1e-9
        rows.append(Row(f.id, f.label, value, f.value, ratio, _band_text(t), within, f.kind, f.source, f.unit, f.note))
    return rows


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.1f}"


def render_table(rows: list[Row], title: str | None = "Simulated against published") -> "Table":
    """A rich table: figure, kind, simulated, published, ratio, band and ✓ or ✗ OUTSIDE."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column("figure")
    t.add_column("kind")
    for col in ("simulated", "published", "ratio", "band"):
        t.add_column(col, justify="right")
    t.add_column("in band?")
    for r in rows:
        mark = ("-" if r.kind == "context" else "- skipped") if r.within is None else "✓" if r.within else "✗ OUTSIDE"
        t.add_row(r.label, r.kind, _fmt(r.simulated, r.unit), _fmt(r.published, r.unit),
                  "-" if r.ratio is None else f"{r.ratio:.2f}", r.band, mark)
    return t


def as_json(rows: list[Row]) -> dict:
    """The rows as JSON-ready data, with how many are in band, outside and skipped
    (consistency and emergent counted apart)."""
    def tally(kind):
        mine = [r for r in rows if r.kind == kind]
        return {"in_band": sum(r.within is True for r in mine), "outside": sum(r.within is False for r in mine),
                "skipped": sum(r.within is None for r in mine)}

    return {"figures": [attrs.asdict(r) for r in rows], "emergent": tally("emergent"), "fitted": tally("fitted"),
            "consistency": tally("consistency")}


# -- a whole validation run -----------------------------------------------------------------

def summary_fte(summary: dict, authority: str) -> float | None:
    """The case-holding FTE a simulation's summary reports for ``authority``
    (at the simulated scale): the social workers' FTE of its workforce
    (``workforce.fte.social_worker``, hours from the calibration's workload
    table), or a ``case_holding_fte``.  None when the summary has neither
    (a calibration with no workload table)."""
    mine = (summary.get("authorities") or {}).get(authority) or {}
    value = mine.get("case_holding_fte")
    for holder in (mine.get("workforce"), mine):
        fte = holder.get("fte") if isinstance(holder, dict) else None
        if value is None and isinstance(fte, dict):
            value = fte.get("social_worker")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def run_validation(db_path, *, calibration=None, scale: float = 1 / 20, seed: int = 1, authority: str = "england",
                   workers: int = 1, warm_up: int = 36, year: int | None = None, progress=None,
                   figures=None, fte: float | None = None, registry=None, widen: float | None = None) -> list[Row]:
    """Simulate the calibration's country under ``authority`` (``england``:
    the statutory baseline alone) at ``scale`` into the new database
    ``db_path`` -- round(referrals.per_year x scale) referrals in the census
    year 1 April ``year``-1 to 31 March ``year``, after ``warm_up`` months --
    then count that year's return and compare it with ``figures`` (a path,
    a :class:`Figures`, or None for the shipped England figures).  ``year``
    defaults to the latest year of the figures.  ``fte``: England's
    case-holding FTE (scaled by ``scale``), else the run's own social-worker
    FTE if its summary reports one (:func:`summary_fte`); without either the
    caseload figure is skipped."""
    from .calibration import load_calibration
    from .runner import Parameters, simulate

    if registry is None:
        from ..plugins import Registry

        registry = Registry.load()
    published = figures if isinstance(figures, Figures) else load_figures(figures)
    cal = load_calibration(calibration)
    cal_path = None if calibration is None else str(calibration)
    if year is None:
        year = max(f.year for f in published.figures)
    if not 0 < scale <= 1:
        raise InputError(f"scale must be above 0 and at most 1, got {scale}")
    per_year = cal.referrals.per_year.value
    referrals = round(per_year * scale)
    if referrals < 1:
        raise InputError(f"scale {scale} leaves no referrals (England has {per_year:,.0f} a year)")
    start = date(year - 1, 4, 1)
    if "warm_up" in attrs.fields_dict(Parameters):
        params = Parameters(authorities=(authority,), referrals=referrals, start=start, months=12, seed=seed,
                            calibration=cal_path, warm_up=warm_up)
    else:  # before runner had a warm-up: the same cohort shape, started earlier and counted over the whole run
        params = Parameters(authorities=(authority,), referrals=round(per_year * scale * (warm_up + 12) / 12),
                            start=add_months(start, -warm_up), months=warm_up + 12, seed=seed, calibration=cal_path)
    summary = simulate(params, db_path, registry, workers=workers, progress=progress)
    fte_here = fte * referrals / per_year if fte is not None else summary_fte(summary, authority)
    from ..store import Store

    with Store(db_path, registry, read_only=True) as store:
        simulated = count(store, year, authority, fte=fte_here)
    # The scale the run really has (referrals are a whole number).
    real = referrals / per_year
    return compare(simulated, published, real, widening(real) if widen is None else widen)
