"""A synthetic cohort of referrals, calibrated to national figures.

Referral ``i`` is a pure function of (calibration, generator, window, i), so
workers can make their own share of the cohort and every authority sees the
same children.  No personal data: a child is a birth date and a handful of
census characteristics."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta

from attrs import frozen

from ..calendar import add_months, canonical, england
from .draws import Banded, Choice, Generator

# Stream purposes (one independent stream each per case).
REFERRAL, CHILD, PATHWAY, TIMING, PLAN = range(5)
# Practice streams used by the practitioner, one per kind of timing.
CONSENT, INITIAL, REVIEW_SLIP, VISIT_SLIP, PAPER_SLIP, AGREED, FIX, EXCEPTION = range(5, 13)

PATHWAYS = ("no_further_action", "consent_refused", "section_47", "not_in_need", "cin_plan")


@frozen
class Referral:
    """One simulated referral and what will happen to the child."""

    number: int
    date: date
    birth_date: date
    sex: str
    disabled: bool
    short_break_nights: int
    source: str
    need: str
    re_referral: bool
    pathway: str
    ethnicity: str
    disability_codes: tuple[str, ...]
    upn_unknown_reason: str


def _referral_days(cal, start: date, end: date):
    """The working days of each month in [start, end), a choice of month
    weighted by the calibration's month weights times its working days, and
    the total weight."""
    wd = england()
    days: list[list[date]] = []
    weights = {}
    month_start = start
    while month_start < end:
        last = date(month_start.year, month_start.month, monthrange(month_start.year, month_start.month)[1])
        stop = min(last, end - timedelta(days=1))
        in_month = [month_start + timedelta(d) for d in range((stop - month_start).days + 1)]
        in_month = [d for d in in_month if wd.is_working_day(d)]
        if in_month:
            weights[len(days)] = cal.referrals.month_weights.value[month_start.month] * len(in_month)
            days.append(in_month)
        month_start = stop + timedelta(days=1)
    return days, (Choice(weights) if weights else None), sum(weights.values())


class Cohort:
    """The referrals of one simulation: ``cohort[i]`` for i in range(len(cohort)).

    Referrals ``0 .. size-1`` are referred inside the window [start, start +
    months); with a warm-up, referrals ``size ..`` are referred in the
    ``warm_up`` months before it, at the same monthly rate, so that the
    window opens on a realistic caseload.  Window referrals come first so
    that a run with a warm-up holds the same window children as one
    without."""

    def __init__(self, calibration, generator: Generator, start: date, months: int, size: int, warm_up: int = 0):
        self.cal, self.gen, self.start = calibration, generator, start
        self.end = add_months(start, months)
        self.warm_up_start = add_months(start, -warm_up)
        self.size = size
        cal = calibration
        self.days, self.month, weight = _referral_days(cal, start, self.end)
        self.warm_days, self.warm_month, warm_weight = _referral_days(cal, self.warm_up_start, start)
        # The warm-up's referrals at the window's rate per weighted working day.
        self.warm_size = round(size * warm_weight / weight) if warm_up and weight else 0
        self.age = Banded(cal.children.age_bands.bands)
        self.nights = Banded(cal.children.short_break_nights.bands)
        self.sex = Choice(cal.children.sex.value)
        self.need = Choice(cal.children.primary_need.value)
        self.ethnicity = Choice(cal.census.ethnicity.value)
        self.disability = Choice(cal.census.disability_codes.value)
        self.source = Choice(cal.referrals.source_mix.value)
        o = cal.outcomes
        taken = o.no_further_action.value + o.consent_refused.value + o.section_47.value + o.not_in_need.value
        self.pathway = Choice({"no_further_action": o.no_further_action.value, "consent_refused": o.consent_refused.value,
                               "section_47": o.section_47.value, "not_in_need": o.not_in_need.value,
                               "cin_plan": max(0.0, 1 - taken)})

    def __len__(self) -> int:
        return self.size + self.warm_size

    def __getitem__(self, i: int) -> Referral:
        cal, gen = self.cal, self.gen
        r = gen.stream(i, REFERRAL)
        if i < self.size:
            month = self.days[self.month.pick(r.u(0))]
        else:
            month = self.warm_days[self.warm_month.pick(r.u(0))]
        day = month[int(r.u(1) * len(month))]
        c = gen.stream(i, CHILD)
        age = self.age.draw(c.u(0), c.u(1))
        # A birth date that makes the child exactly ``age`` on the referral day.
        born = canonical(day - timedelta(days=int(age * 365.25) + 1 + int(c.u(2) * 364)))
        disabled = c.u(3) < cal.children.disabled.value
        nights = 0
        if disabled and c.u(4) < cal.children.short_breaks_share_of_disabled.value:
            nights = self.nights.draw(c.u(5), c.u(6))
        codes: tuple[str, ...] = ()
        if disabled:
            first = self.disability.pick(c.u(9))
            second = self.disability.pick(c.u(11)) if c.u(10) < cal.census.second_disability.value else first
            codes = tuple(sorted({first, second}))
        p = gen.stream(i, PATHWAY)
        return Referral(
            number=i, date=day, birth_date=born, sex=self.sex.pick(c.u(7)), disabled=disabled,
            short_break_nights=nights, source=self.source.pick(r.u(2)), need=self.need.pick(c.u(8)),
            re_referral=r.u(3) < cal.referrals.re_referral_share.value, pathway=self.pathway.pick(p.u(0)),
            ethnicity=self.ethnicity.pick(c.u(12)), disability_codes=codes,
            # No real UPNs: school-age children carry "UN5" (sources lack the information), younger ones "UN1".
            upn_unknown_reason="UN5" if age >= 4 else "UN1",
        )
