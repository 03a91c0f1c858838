"""The simulated practitioner: draws independent of the cohort's, work on
working days only, and comply-or-explain exceptions still recorded.

Synthetic referrals only; dates are real England and Wales working days."""

import math
import signal
from collections import Counter
from contextlib import contextmanager
from datetime import date

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cinflow.calendar import add_months, england
from cinflow.events import EVENT_TYPES
from cinflow.models import Deadline
from cinflow.plugins import Registry
from cinflow.simulation import practice
from cinflow.simulation.calibration import load_calibration
from cinflow.simulation.cohort import PATHWAY, Cohort
from cinflow.simulation.draws import Generator, Stream
from cinflow.simulation.practice import (
    Practitioner,
    _CaseRun,
    shift_working_days,
    working_day_on_or_after,
)

REGISTRY = Registry.load()
CAL = load_calibration()
WD = england()
START = date(2026, 10, 1)
MONTHS = 9

# Events that keep their own date, whatever the day of the week.
OWN_DATED = {"referral_received", "eighteenth_birthday", "child_died", "moved_abroad", "became_looked_after"}
# What a team does: on working days only.
PRACTITIONER_DATED = {
    "transfer_in", "consent_given", "consent_refused", "assessment_completed", "strategy_discussion",
    "s47_completed", "icpc_held", "cp_plan_started", "cp_review", "cp_plan_ended", "cin_meeting", "visit",
    "minutes_circulated", "case_note_recorded", "plan_authorised", "plan_updated", "plan_circulated",
    "meeting_recorded", "visit_recorded", "invitations_sent", "assessment_updated", "step_down_completed",
    "supervision_order_made", "manager_decision", "move_notified", "receiving_authority_notified",
    "transfer_information_sent", "case_records_completed", "transfer_completed", "case_closed",
}

# Real dates (checked against the holidays library below).
THU_24_DEC_2026 = date(2026, 12, 24)
FRI_25_DEC_2026 = date(2026, 12, 25)  # Christmas Day
SAT_26_DEC_2026 = date(2026, 12, 26)  # Boxing Day, on a Saturday
MON_28_DEC_2026 = date(2026, 12, 28)  # Boxing Day (substitute day)
TUE_29_DEC_2026 = date(2026, 12, 29)
WED_24_MAR_2027 = date(2027, 3, 24)
THU_25_MAR_2027 = date(2027, 3, 25)
FRI_26_MAR_2027 = date(2027, 3, 26)  # Good Friday
MON_29_MAR_2027 = date(2027, 3, 29)  # Easter Monday
TUE_30_MAR_2027 = date(2027, 3, 30)


def cohort(size: int, seed: int = 5, months: int = MONTHS) -> Cohort:
    return Cohort(CAL, Generator(seed), START, months, size)


def run_cases(pid: str, refs, seed: int = 5, until: date | None = None):
    pr = Practitioner(REGISTRY[pid], CAL, Generator(seed), until or add_months(START, MONTHS))
    return [pr.run(ref, f"t-{ref.number:07d}") for ref in refs]


@contextmanager
def time_limit(seconds: int):
    """Fail the test (rather than hang it) if the block takes longer than ``seconds``."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def stop(signum, frame):
        raise AssertionError(f"took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def within(observed: int, n: int, p: float, sds: float = 4.0) -> bool:
    return n > 0 and abs(observed / n - p) <= sds * math.sqrt(p * (1 - p) / n)


# -- the calendar the tests rely on ---------------------------------------------

def test_the_bank_holidays_these_tests_use():
    bank = holidays.country_holidays("GB", subdiv="ENG", years=[2026, 2027])
    assert FRI_25_DEC_2026 in bank and SAT_26_DEC_2026 in bank and MON_28_DEC_2026 in bank
    assert "Boxing Day" in bank[MON_28_DEC_2026] and SAT_26_DEC_2026.weekday() == 5
    assert FRI_26_MAR_2027 in bank and MON_29_MAR_2027 in bank
    assert "Good Friday" in bank[FRI_26_MAR_2027] and "Easter Monday" in bank[MON_29_MAR_2027]
    for day in (THU_24_DEC_2026, TUE_29_DEC_2026, WED_24_MAR_2027, THU_25_MAR_2027, TUE_30_MAR_2027):
        assert day not in bank and day.weekday() < 5


# -- the helpers ----------------------------------------------------------------

@pytest.mark.parametrize("day, expected", [
    (THU_24_DEC_2026, THU_24_DEC_2026),  # a working day stays
    (FRI_25_DEC_2026, TUE_29_DEC_2026),  # Christmas, then a weekend, then Boxing Day's substitute
    (SAT_26_DEC_2026, TUE_29_DEC_2026),
    (date(2026, 12, 27), TUE_29_DEC_2026),
    (MON_28_DEC_2026, TUE_29_DEC_2026),
    (FRI_26_MAR_2027, TUE_30_MAR_2027),  # Good Friday to Easter Monday
    (MON_29_MAR_2027, TUE_30_MAR_2027),
    (date(2026, 10, 3), date(2026, 10, 5)),  # a Saturday
])
def test_next_working_day_on_or_after(day, expected):
    assert working_day_on_or_after(day) == expected
    assert working_day_on_or_after(day, WD) == expected


@pytest.mark.parametrize("day, n, expected", [
    (THU_24_DEC_2026, 1, TUE_29_DEC_2026),
    (TUE_29_DEC_2026, -1, THU_24_DEC_2026),
    (TUE_29_DEC_2026, -2, date(2026, 12, 23)),
    (FRI_25_DEC_2026, -1, THU_24_DEC_2026),  # from a holiday: the first working day before it
    (TUE_30_MAR_2027, -1, THU_25_MAR_2027),
    (TUE_30_MAR_2027, -2, WED_24_MAR_2027),
    (THU_25_MAR_2027, 1, TUE_30_MAR_2027),
    (THU_25_MAR_2027, 0, THU_25_MAR_2027),
])
def test_shifting_by_working_days_both_ways(day, n, expected):
    assert shift_working_days(day, n, WD) == expected


days = st.dates(min_value=date(2001, 1, 1), max_value=date(2044, 12, 31))


@given(days)
def test_the_next_working_day_property(day):
    out = working_day_on_or_after(day, WD)
    assert WD.is_working_day(out) and out >= day
    if WD.is_working_day(day):
        assert out == day
    else:
        assert WD.between(day, out) == 1  # the first working day after it, not a later one
        assert (out - day).days <= 5


@given(days, st.integers(min_value=-40, max_value=40))
def test_shifting_back_undoes_shifting_forward(day, n):
    day = working_day_on_or_after(day, WD)
    moved = shift_working_days(day, n, WD)
    assert WD.is_working_day(moved) and shift_working_days(moved, -n, WD) == day
    assert (moved >= day) == (n >= 0)


# -- slips and fixes --------------------------------------------------------------

def case_run(pid: str = "kent", today: date = date(2026, 12, 1)) -> _CaseRun:
    pr = Practitioner(REGISTRY[pid], CAL, Generator(1), date(2028, 1, 1))
    run = _CaseRun(pr, cohort(1)[0], "t-1")
    run.today = today
    return run


def deadline(rule: str, due: date) -> Deadline:
    return Deadline(rule.split(".")[1], due, rule, "synthetic", date(2026, 11, 1))


@pytest.mark.parametrize("due, slip, expected", [
    (THU_24_DEC_2026, 0, THU_24_DEC_2026),
    (THU_24_DEC_2026, 1, TUE_29_DEC_2026),
    (THU_24_DEC_2026, 2, date(2026, 12, 30)),
    (TUE_29_DEC_2026, -1, THU_24_DEC_2026),
    (THU_25_MAR_2027, 1, TUE_30_MAR_2027),
    (TUE_30_MAR_2027, -3, date(2027, 3, 23)),
])
def test_a_slip_on_a_working_day_deadline_is_in_working_days(due, slip, expected):
    run = case_run()
    assert "kent.minutes" in run.pr.working_day_rules  # kent's minutes are due in working days
    assert run.slipped(deadline("kent.minutes", due), slip) == expected


@pytest.mark.parametrize("due, slip, expected", [
    # A slip of n calendar days is applied as the round(5n/7) working days it spans.
    (THU_24_DEC_2026, 1, TUE_29_DEC_2026),  # 1 working day: over Christmas and Boxing Day's substitute
    (THU_24_DEC_2026, 3, date(2026, 12, 30)),  # 2
    (THU_24_DEC_2026, 5, date(2027, 1, 4)),  # 4: Friday 1 January is New Year's Day
    (THU_24_DEC_2026, 6, date(2027, 1, 4)),  # still 4
    (TUE_29_DEC_2026, -1, THU_24_DEC_2026),  # 1 back: Monday 28th (substitute), 27th-25th are off
    (TUE_29_DEC_2026, -5, date(2026, 12, 21)),  # 4 back
    (TUE_30_MAR_2027, -4, date(2027, 3, 23)),  # 3 back: over Easter Monday and Good Friday
    (TUE_30_MAR_2027, -5, date(2027, 3, 22)),  # 4 back
])
def test_a_slip_on_a_calendar_deadline_is_applied_as_the_working_days_it_spans(due, slip, expected):
    run = case_run()
    assert "kent.visit_interval" not in run.pr.working_day_rules  # kent's visits are due in weeks
    assert run.slipped(deadline("kent.visit_interval", due), slip) == expected


def test_a_slip_never_goes_back_before_today_or_the_deadline():
    run = case_run(today=FRI_25_DEC_2026)
    assert run.slipped(deadline("kent.minutes", TUE_29_DEC_2026), -3) == TUE_29_DEC_2026
    assert run.slipped(deadline("kent.visit_interval", TUE_29_DEC_2026), -10) == TUE_29_DEC_2026
    run = case_run(today=date(2026, 10, 1))
    early = Deadline("visit", date(2026, 11, 3), "kent.visit_interval", "synthetic", SAT_26_DEC_2026)
    assert run.slipped(early, 0) == TUE_29_DEC_2026


def test_an_early_slip_is_never_on_the_day_the_deadline_opened():
    run = case_run(today=date(2026, 12, 17))
    opened_thu_17 = Deadline("minutes", THU_24_DEC_2026, "kent.minutes", "synthetic", date(2026, 12, 17))
    assert run.slipped(opened_thu_17, -5) == date(2026, 12, 18)  # 5 working days early is the 17th: the 18th
    assert run.slipped(opened_thu_17, -4) == date(2026, 12, 18)
    assert run.slipped(opened_thu_17, -3) == date(2026, 12, 21)


def test_short_working_day_visit_intervals_move_on():
    # example-shire visits children under 5 every 10 working days; a visit slipped 10 working days early
    # once fell on the day of the visit before it, opening the same deadline again, for ever.
    assert "example-shire.young_child_visits" in Practitioner(
        REGISTRY["example-shire"], CAL, Generator(1), START).working_day_rules
    co = Cohort(CAL, Generator(11), date(2026, 4, 1), 12, 300, 36)
    refs = [co[i] for i in range(len(co))]
    visits = 0
    with time_limit(60):  # fail, not hang, if a case goes round in circles
        cases = run_cases("example-shire", refs, seed=11, until=date(2027, 4, 1))
    for case in cases:
        days = [h.date for h in case.history if h.accepted and h.event == "visit"]
        assert len(days) == len(set(days)), case.id
        visits += len(days)
    assert visits > 400  # the cases went on visiting (and none went round in circles)


def test_refusals_are_put_right_in_working_days():
    band = CAL.practice.fix_days.bands
    low, high = min(b[0] for b in band), max(b[1] for b in band)
    counts = Counter()
    for number in range(300):
        pr = Practitioner(REGISTRY["kent"], CAL, Generator(number), date(2028, 1, 1))
        run = _CaseRun(pr, cohort(1)[0], "t-1")
        for refused_on in (THU_24_DEC_2026, FRI_25_DEC_2026, SAT_26_DEC_2026):
            fixed = run.fix_day(EVENT_TYPES["visit"](date=refused_on))
            assert WD.is_working_day(fixed) and fixed >= refused_on
            counts[WD.between(THU_24_DEC_2026, fixed)] += 1
    # Thursday 24th plus 0..10 working days; from the holiday, the first working day is day 0.
    assert min(counts) == low and max(counts) <= high + 1 and counts[0] > 0


# -- draws ------------------------------------------------------------------------

def test_practice_never_reuses_a_draw_the_cohort_took(monkeypatch):
    taken: set = set()
    u, u4 = Stream.u, Stream.u4

    def logged_u(self, n=0):
        taken.add((self.key, n))
        return u(self, n)

    def logged_u4(self, n=0):
        taken.add((self.key, n))
        return u4(self, n)

    monkeypatch.setattr(Stream, "u", logged_u)
    monkeypatch.setattr(Stream, "u4", logged_u4)
    gen = Generator(9)
    co = Cohort(CAL, gen, START, MONTHS, 600)
    refs = [co[i] for i in range(len(co))]
    by_cohort, taken = taken, set()
    pr = Practitioner(REGISTRY["kent"], CAL, gen, add_months(START, MONTHS))
    for ref in refs:
        pr.run(ref, f"t-{ref.number}")
    by_practice = taken
    assert by_cohort and by_practice
    assert not by_cohort & by_practice
    # Not vacuous: practice does draw from the stream that chose each pathway.
    pathway_keys = {gen.stream(ref.number, PATHWAY).key for ref in refs}
    assert {key for key, _ in by_practice} & pathway_keys


def test_outcomes_after_the_pathway_match_the_calibration():
    o = CAL.outcomes
    co = cohort(12000)
    refs = [co[i] for i in range(len(co))]
    # Run on for a year after the last referral so that nearly every enquiry ends.
    until = add_months(START, MONTHS + 12)
    s47 = [r for r in refs if r.pathway == "section_47"][:3000]
    refused = [r for r in refs if r.pathway == "consent_refused"]
    enquiries = conferences = plans = no_plan = 0
    for case in run_cases("england", s47, until=until):
        first = next((h for h in case.history if h.accepted and h.event == "s47_completed"), None)
        if first is None:
            continue
        enquiries += 1
        if first.attributes["outcome"] == "icpc":
            conferences += 1
            # What that conference decided (a later escalation may hold another).
            decided = next(h.event for h in case.history[case.history.index(first):]
                           if h.accepted and h.event in ("cp_plan_started", "icpc_held"))
            plans += decided == "cp_plan_started"
            no_plan += decided == "icpc_held"
    assert enquiries > 0.95 * len(s47)
    assert within(conferences, enquiries, o.icpc_per_s47.value), conferences / enquiries
    assert plans + no_plan == conferences
    assert within(plans, conferences, o.cp_plan_per_icpc.value), plans / conferences
    harm = asked = 0
    for case in run_cases("england", refused, until=until):
        # A 17-year-old may turn 18 (and the case close) before consent is asked.
        first = next((h for h in case.history if h.event == "consent_refused"), None)
        if first is None:
            assert case.state == "closed" and case.history[-1].event == "eighteenth_birthday", case.id
            continue
        asked += 1
        harm += bool(first.attributes.get("significant_harm_likely"))
    assert len(refused) > 250 and asked > 0.95 * len(refused)
    assert within(harm, asked, o.consent_refused_harm_share.value), harm / asked


# -- the whole cohort on working days ----------------------------------------------

def test_the_event_lists_cover_every_event():
    assert OWN_DATED | PRACTITIONER_DATED == set(EVENT_TYPES) and not OWN_DATED & PRACTITIONER_DATED
    assert practice.OWN_DATED == OWN_DATED and practice.PRACTITIONER_DATED == PRACTITIONER_DATED


@pytest.fixture(scope="module")
def cohort_runs():
    co = cohort(2500)
    refs = [co[i] for i in range(len(co))]
    return refs, {pid: run_cases(pid, refs) for pid in ("england", "kent", "reading")}


def test_referrals_are_on_working_days(cohort_runs):
    refs, _ = cohort_runs
    assert all(WD.is_working_day(r.date) and START <= r.date < add_months(START, MONTHS) for r in refs)


@pytest.mark.parametrize("pid", ["england", "kent", "reading"])
def test_practitioners_work_on_working_days_only(cohort_runs, pid):
    _, runs = cohort_runs
    checked, own_off = Counter(), Counter()
    for case in runs[pid]:
        dates = [h.date for h in case.history]
        assert dates == sorted(dates), case.id  # never back in time
        for h in case.history:
            if h.event in PRACTITIONER_DATED:
                assert WD.is_working_day(h.date), (case.id, h.event, h.date.isoformat())
                checked[h.event] += 1
            elif not WD.is_working_day(h.date):
                own_off[h.event] += 1
    assert sum(checked.values()) > 5_000
    assert {"cin_meeting", "s47_completed", "cp_plan_started", "cp_review", "cp_plan_ended", "strategy_discussion",
            "move_notified", "transfer_information_sent"} <= set(checked)
    if pid != "england":
        assert {"visit", "minutes_circulated", "manager_decision"} <= set(checked)
    # Own-dated events keep their dates, weekends and holidays included.
    assert own_off["eighteenth_birthday"] > 0
    assert set(own_off) <= OWN_DATED - {"referral_received"}
    # Work spreads over the week: no weekday holds half as much again as another (moving every weekend
    # date to the next working day once gave Mondays three times a Wednesday's visits).
    weekdays = Counter(h.date.weekday() for case in runs[pid] for h in case.history
                       if h.accepted and h.event in ("visit", "cin_meeting", "minutes_circulated"))
    assert set(weekdays) == {0, 1, 2, 3, 4} and max(weekdays.values()) < 1.5 * min(weekdays.values()), weekdays


def test_same_seed_same_cases_in_any_order():
    co = cohort(300, seed=21)
    refs = [co[i] for i in range(len(co))]
    first = run_cases("kent", refs, seed=21)
    again = run_cases("kent", refs[::-1], seed=21)[::-1]
    assert [c.history for c in first] == [c.history for c in again]
    assert [c.deadlines for c in first] == [c.deadlines for c in again]


# -- comply or explain ------------------------------------------------------------

@pytest.mark.parametrize("pid", ["kent", "reading"])
def test_should_rules_still_take_authorised_exceptions(cohort_runs, pid):
    _, runs = cohort_runs
    index = REGISTRY[pid].rule_index
    should = {rule_id for rule_id, rule in index.items() if rule.level == "should"}
    assert should
    excepted_items, eligible, excepted = [], 0, 0
    for case in runs[pid]:
        history = case.history
        for i, h in enumerate(history):
            if h.accepted and h.exceptions:
                excepted_items.append(h)
            if (not h.accepted and h.reasons and i + 1 < len(history)
                    and all(any(m.kind == "needs_exception" for m in r.remedies) for r in h.reasons)):
                eligible += 1
                nxt = history[i + 1]
                if nxt.event == "manager_decision" and nxt.attributes.get("kind") == "exception":
                    excepted += 1
                    assert nxt.attributes["rule"] in should and WD.is_working_day(nxt.date)
    assert excepted_items, f"no accepted event under {pid} carries an exception"
    assert all(use.rule in should for h in excepted_items for use in h.exceptions)
    # As often as the calibration's exception_share says (a quarter).
    assert eligible > 20 and 0.1 < excepted / eligible < 0.45, (excepted, eligible)


def test_an_event_refused_as_too_early_is_tried_again_later_not_for_ever():
    # london-borough refuses invitations sent more than 4 weeks before the meeting; slipped 4 working days
    # early over Easter 2027 (Good Friday 26 March, Easter Monday 29 March), invitations due Tue 30 March
    # fell on Mon 22 March, a day too early, and were once tried on that day for ever.
    co = Cohort(CAL, Generator(2027), date(2026, 4, 1), 12, 720)
    refs = [co[i] for i in range(len(co))]
    with time_limit(60):
        cases = run_cases("london-borough", refs, seed=2027, until=date(2027, 4, 1))
    refused = [h for c in cases for h in c.history
               if not h.accepted and any(r.rule == "london-borough.invitation_window" for r in h.reasons)]
    assert refused and all(WD.is_working_day(h.date) for h in refused)
    case = next(c for c in cases if c.id.endswith("-0000129"))
    sent = [h for h in case.history if h.event == "invitations_sent"]
    assert [h.accepted for h in sent[-2:]] == [False, True] and sent[-1].date == date(2027, 3, 23)
