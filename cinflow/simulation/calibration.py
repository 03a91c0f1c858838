"""The calibration file: every figure a simulated cohort is drawn from, each
with its source.  ``england-2025.yaml`` ships with cinflow; ``--calibration
FILE`` takes a council's own (same shape)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from attrs import frozen

from ..convert import load_yaml, read_input, structure
from ..errors import InputError, quote

DEFAULT = "england-2025.yaml"


@frozen
class Share:
    value: float
    source: str


@frozen
class Mix:
    value: dict[str, float]
    source: str


@frozen
class MonthWeights:
    value: dict[int, float]
    source: str


@frozen
class Bands:
    """Integer ranges ``[low, high, share]``: draw a range by share, then a value in it."""

    bands: tuple[tuple[int, int, float], ...]
    source: str


@frozen
class Referrals:
    per_year: Share
    re_referral_share: Share
    month_weights: MonthWeights
    source_mix: Mix


@frozen
class Outcomes:
    no_further_action: Share
    not_in_need: Share
    not_in_need_early_help_share: Share
    section_47: Share
    consent_refused: Share
    consent_refused_harm_share: Share
    icpc_per_s47: Share
    cp_plan_per_icpc: Share
    s47_to_cin_plan: Share
    icpc_to_cin_plan: Share
    cp_step_down_to_cin: Share
    # Share of children assessed in need whose initial meeting finds that no
    # plan is needed and closes the case (absent: never).
    close_at_initial_meeting: Share | None = None


@frozen
class Durations:
    assessment_working_days: Bands
    icpc_working_days: Bands
    s47_working_days: Bands
    cp_plan_months: Bands
    cin_plan_months: Bands


@frozen
class Children:
    age_bands: Bands
    disabled: Share
    short_breaks_share_of_disabled: Share
    short_break_nights: Bands
    sex: Mix
    primary_need: Mix


@frozen
class Practice:
    consent_working_days: Bands
    initial_meeting_working_days: Bands
    review_slip_days: Bands
    visit_slip_days: Bands
    paperwork_slip_days: Bands
    agreed_review_weeks: Bands
    fix_days: Bands
    default_interval_weeks: Share
    # How often a team records an authorised exception to a "should" rule
    # rather than waiting until it can comply (absent: never).
    exception_share: Share | None = None


@frozen
class Census:
    ethnicity: Mix
    disability_codes: Mix
    second_disability: Share
    assessment_factors: Mix
    abuse_categories: Mix
    repeat_cp_plan: Share


@frozen
class Hours:
    """Hours per activity and role: ``{activity: {role: hours}}``."""

    value: dict[str, dict[str, float]]
    source: str


@frozen
class Workload:
    """Time per activity, and what an FTE's year holds: turns the activity a
    simulation counts into hours and full-time equivalents by role
    (:mod:`.stats`).  FTE = hours a year / (fte_hours_per_year x counted_share)."""

    hours: Hours
    # Hours an FTE works in a year, less leave, bank holidays, sickness and training.
    fte_hours_per_year: Share
    # The share of those hours spent on the activities counted (the rest:
    # travel, other recording, supervision, court, duty).
    counted_share: Share


@frozen
class Benchmarks:
    """National figures a simulation's results are set beside."""

    caseload_per_fte: Share | None = None


@frozen
class Calibration:
    name: str
    description: str
    referrals: Referrals
    outcomes: Outcomes
    durations: Durations
    children: Children
    census: Census
    plan_endings: Mix
    practice: Practice
    # Absent: no hours or FTE in the summary (activity is still counted by role).
    workload: Workload | None = None
    benchmarks: Benchmarks | None = None


PLAN_ENDINGS = ("close", "step_down", "escalate", "looked_after", "moved_away")


def load_data_file(path: str | Path | None, shipped: str, cls, what: str):
    """A YAML data file of the simulation package as ``cls``: the named file,
    or the one shipped as ``shipped``; a bad file is one line naming the field.
    Returns (value, where it came from)."""
    if path is None:
        text, where = resources.files(__package__).joinpath(shipped).read_text(encoding="utf-8"), shipped
    else:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such {what} file")
        text, where = read_input(path), str(path)
    return structure(load_yaml(text, where), cls, where), where


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The named calibration file, or the shipped England figures."""
    cal, where = load_data_file(path, DEFAULT, Calibration, "calibration")
    _check(cal, where)
    return cal


def _check(cal: Calibration, where: str) -> None:
    o = cal.outcomes
    for section in (cal.referrals, o, cal.children, cal.census):
        for name in section.__attrs_attrs__:
            item = getattr(section, name.name)
            if isinstance(item, Share) and name.name not in ("per_year",) and not 0 <= item.value <= 1:
                raise InputError(f"{where}: {name.name}: {item.value} is not a share between 0 and 1")
    if cal.referrals.per_year.value <= 0:
        raise InputError(f"{where}: referrals.per_year must be positive")
    taken = o.no_further_action.value + o.not_in_need.value + o.section_47.value + o.consent_refused.value
    if taken > 1:
        raise InputError(f"{where}: outcomes: no_further_action + not_in_need + section_47 + consent_refused is {taken:.3f}, over 1")
    for label, mix in (("referrals.source_mix", cal.referrals.source_mix), ("children.sex", cal.children.sex),
                       ("children.primary_need", cal.children.primary_need), ("plan_endings", cal.plan_endings),
                       ("census.ethnicity", cal.census.ethnicity), ("census.disability_codes", cal.census.disability_codes),
                       ("census.abuse_categories", cal.census.abuse_categories)):
        total = sum(mix.value.values())
        if abs(total - 1) > 0.02:
            raise InputError(f"{where}: {label}: shares add up to {total:.3f}, not 1")
    from typing import get_args

    from ..vocabulary import AbuseCategory, AssessmentFactor, DisabilityCode, Ethnicity, ReferralSource
    for label, mix, codes in (("census.ethnicity", cal.census.ethnicity, Ethnicity),
                              ("census.disability_codes", cal.census.disability_codes, DisabilityCode),
                              ("census.assessment_factors", cal.census.assessment_factors, AssessmentFactor),
                              ("census.abuse_categories", cal.census.abuse_categories, AbuseCategory),
                              ("referrals.source_mix", cal.referrals.source_mix, ReferralSource)):
        bad = sorted(set(mix.value) - set(get_args(codes)))
        if bad:
            raise InputError(f"{where}: {label}: {quote(bad[0])} is not a census code")
    unknown = set(cal.plan_endings.value) - set(PLAN_ENDINGS)
    if unknown:
        raise InputError(f"{where}: plan_endings: unknown ending {quote(sorted(unknown)[0])} (known: {', '.join(PLAN_ENDINGS)})")
    for section in (cal.durations, cal.children, cal.practice):
        for a in section.__attrs_attrs__:
            item = getattr(section, a.name)
            if isinstance(item, Bands):
                if not item.bands:
                    raise InputError(f"{where}: {a.name}: no bands")
                for low, high, share in item.bands:
                    if high < low or share < 0:
                        raise InputError(f"{where}: {a.name}: band [{low}, {high}, {share}] is not a range with a share")
                total = sum(b[2] for b in item.bands)
                if abs(total - 1) > 0.02:
                    raise InputError(f"{where}: {a.name}: band shares add up to {total:.3f}, not 1")
    weights = cal.referrals.month_weights.value
    if set(weights) != set(range(1, 13)) or any(w < 0 for w in weights.values()):
        raise InputError(f"{where}: referrals.month_weights: give a weight of 0 or more for each month 1-12")
    if cal.workload is not None:
        _check_workload(cal.workload, where)
    b = cal.benchmarks
    if b is not None and b.caseload_per_fte is not None and not _number(b.caseload_per_fte.value, low=0, strict=True):
        raise InputError(f"{where}: benchmarks.caseload_per_fte: {_show(b.caseload_per_fte.value)} is not a positive number")


def _number(x, low: float, high: float = float("inf"), strict: bool = False) -> bool:
    """A real number (not a bool, not NaN) in [low, high] (``strict``: above low)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or x != x:
        return False
    return (low < x if strict else low <= x) and x <= high


def _show(x) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else quote(x)


def _check_workload(w: Workload, where: str) -> None:
    from ..vocabulary import ROLES
    from .stats import RECORDED_ROLE, WORK

    for activity, roles in w.hours.value.items():
        if activity not in WORK:
            raise InputError(f"{where}: workload.hours: unknown activity {quote(activity)} (known: {', '.join(WORK)})")
        if not isinstance(roles, dict):
            raise InputError(f"{where}: workload.hours.{activity}: expected a mapping of role to hours")
        recorded = RECORDED_ROLE.get(activity)
        for role, hours in roles.items():
            if role != recorded and role not in ROLES:
                also = f"{recorded} or " if recorded else ""
                raise InputError(f"{where}: workload.hours.{activity}: unknown role {quote(role)} "
                                 f"(known: {also}{', '.join(ROLES)})")
            if not _number(hours, low=0, high=24 * 7):
                raise InputError(f"{where}: workload.hours.{activity}.{role}: {_show(hours)} is not a number of hours "
                                 "between 0 and 168")
    if not _number(w.fte_hours_per_year.value, low=0, high=366 * 24, strict=True):
        raise InputError(f"{where}: workload.fte_hours_per_year: {_show(w.fte_hours_per_year.value)} is not a number of "
                         "hours above 0 (and at most a year's)")
    if not _number(w.counted_share.value, low=0, high=1, strict=True):
        raise InputError(f"{where}: workload.counted_share: {_show(w.counted_share.value)} is not a share above 0 and "
                         "at most 1")
