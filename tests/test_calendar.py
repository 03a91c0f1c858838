"""Working days, weeks and months, pinned with worked dates."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cinflow.calendar import add_months, add_period, age_on, birthday, england


@pytest.mark.parametrize(
    "start, n, expected",
    [
        # The issue's own examples.
        (date(2026, 2, 13), 10, date(2026, 2, 27)),  # Friday to Friday, no holidays
        (date(2026, 12, 14), 15, date(2027, 1, 7)),  # Christmas, Boxing Day substitute (Mon 28), New Year
        # D is day 0: one working day after a Friday is the Monday.
        (date(2026, 3, 6), 1, date(2026, 3, 9)),
        # Easter 2026: Good Friday 3 April and Easter Monday 6 April are skipped.
        (date(2026, 4, 2), 1, date(2026, 4, 7)),
        (date(2026, 3, 30), 10, date(2026, 4, 15)),
        # Christmas 2027 falls on a Saturday: substitute days Mon 27 and Tue 28 December.
        (date(2027, 12, 24), 1, date(2027, 12, 29)),
        # Spring bank holiday Monday 25 May 2026.
        (date(2026, 5, 22), 5, date(2026, 6, 1)),
        # Starting on a holiday or weekend: day 1 is the next working day.
        (date(2026, 12, 25), 1, date(2026, 12, 29)),
        (date(2026, 3, 7), 1, date(2026, 3, 9)),
        # Leap day 29 Feb 2028 is a Tuesday and an ordinary working day.
        (date(2028, 2, 28), 1, date(2028, 2, 29)),
        (date(2026, 1, 5), 45, date(2026, 3, 9)),
        (date(2026, 1, 1), 0, date(2026, 1, 1)),
    ],
)
def test_working_days_after(start, n, expected):
    assert england().add(start, n) == expected


def test_bank_holidays_are_not_working_days():
    cal = england()
    for holiday in (date(2026, 4, 3), date(2026, 4, 6), date(2026, 12, 28), date(2027, 12, 27), date(2027, 12, 28)):
        assert not cal.is_working_day(holiday)
    assert cal.is_working_day(date(2026, 12, 29))
    assert not cal.is_working_day(date(2026, 12, 26))  # Saturday


def test_far_future_extends_the_table():
    assert england().add(date(2060, 12, 24), 1) == date(2060, 12, 29)  # Fri 24 -> skip 25 (Sat), 27/28 substitutes


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),  # leap year
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 3, 15), 12, date(2027, 3, 15)),
    ],
)
def test_months_clamp_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_weeks_do_not_roll_off_holidays():
    # 4 weeks after Friday 4 December 2026 is New Year's Day 2027, and stays so.
    assert add_period(date(2026, 12, 4), 4, "weeks") == date(2027, 1, 1)


def test_eighteenth_birthday_of_a_leap_day_child():
    assert birthday(date(2008, 2, 29), 18) == date(2026, 3, 1)
    assert birthday(date(2012, 2, 29), 16) == date(2028, 2, 29)  # a leap year keeps 29 Feb
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_unknown_unit_is_an_error():
    with pytest.raises(ValueError, match="fortnights"):
        add_period(date(2026, 1, 1), 1, "fortnights")


@given(st.dates(date(2000, 1, 1), date(2070, 12, 31)), st.integers(1, 400))
def test_add_lands_on_a_working_day_n_working_days_later(start, n):
    cal = england()
    end = cal.add(start, n)
    assert end > start and cal.is_working_day(end)
    assert cal.between(start, end) == n
    # and no earlier working day would do
    assert cal.between(start, end - timedelta(days=1)) == n - 1


def _naive(start: date, n: int, bank) -> date:
    """The n-th working day after (n > 0) or before (n < 0) ``start``, walked day by day."""
    step = timedelta(days=1 if n > 0 else -1)
    day, left = start, abs(n)
    while left:
        day += step
        if day.weekday() < 5 and day not in bank:
            left -= 1
    return day


@given(st.dates(date(1900, 1, 1), date(2199, 12, 31)), st.integers(-60, 60))
def test_the_tables_agree_with_a_day_by_day_walk(start, n):
    import holidays

    from cinflow.calendar import WorkingDays

    bank = holidays.country_holidays("GB", subdiv="ENG", years=range(start.year - 1, start.year + 2))
    cal = WorkingDays()  # a fresh table: far dates extend it
    assert cal.is_working_day(start) == (start.weekday() < 5 and start not in bank)
    if n >= 0:
        assert cal.add(start, n) == (_naive(start, n, bank) if n else start)
    else:
        assert cal.back(start, -n) == _naive(start, n, bank)
    assert cal.on_or_after(start) == (start if cal.is_working_day(start) else _naive(start, 1, bank))


def test_a_long_period_from_before_the_table():
    from cinflow.calendar import WorkingDays

    start = date(1950, 3, 1)
    end = WorkingDays().add(start, 10_000)
    assert WorkingDays(first_year=1949, last_year=1995).add(start, 10_000) == end
    assert WorkingDays().between(start, end) == 10_000


def test_computed_days_are_one_shared_object_per_day():
    # Held cases keep thousands of due dates; equal days share one object.
    wd = england()
    christmas = date(2026, 12, 25)  # a Friday; Boxing Day's substitute is Monday 28th
    assert wd.on_or_after(christmas) == date(2026, 12, 29)
    tuesday = date(2026, 12, 29)
    assert wd.on_or_after(tuesday) == tuesday
    assert wd.on_or_after(date(2026, 12, 29)) is wd.on_or_after(date(2026, 12, 29)) is wd.add(christmas, 1)
    assert add_period(date(2024, 2, 22), 1, "weeks") == date(2024, 2, 29)  # leap year
    assert add_period(date(2024, 2, 22), 1, "weeks") is add_period(date(2024, 2, 15), 14, "days")
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 1, 31), 1) is add_months(date(2023, 12, 29), 2)
