"""England working days, counted the way the procedures count them.

A working day is Monday to Friday, except bank holidays in England and Wales
(``holidays``: country GB, subdivision ENG, substitute days included).

"N working days after D": D is day 0 and the first working day strictly after
D is day 1.  Weeks are 7 calendar days; months are calendar months clamped to
the end of the month; neither rolls off weekends or holidays.

Working days are looked up in precomputed tables (per day: is it a working
day, how many working days up to it), so adding or taking away working days
is a list lookup rather than a day-by-day walk.
"""

from __future__ import annotations

import calendar as _stdcal
from datetime import date, timedelta

import holidays

UNITS = ("working_days", "days", "weeks", "months")

# The dates cinflow supports: every date read from a scenario, a policy, a
# calibration file or the database must lie in this range (checked where it
# is read, naming the field).  With periods of at most MAX_PERIOD of any unit,
# every date the engine computes from them (due dates, 18th birthdays, the
# working-day table two years past a date) stays far inside Python's years
# 1 to 9999.
FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2199, 12, 31)
MAX_PERIOD = 10_000


def supported(d: date) -> bool:
    """``d`` lies in :data:`FIRST_DATE` .. :data:`LAST_DATE`."""
    return FIRST_DATE <= d <= LAST_DATE


_CANONICAL: dict[date, date] = {}


def canonical(d: date) -> date:
    """One shared object per calendar day (about 3 dates a case held in
    memory would otherwise each be an object of their own)."""
    return _CANONICAL.setdefault(d, d)


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, clamped to the month's end."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, _stdcal.monthrange(year, month)[1])
    return canonical(date(year, month, day))


def birthday(birth_date: date, age: int) -> date:
    """The date a child reaches ``age``; 29 February birthdays fall on 1 March
    in common years."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:
        return date(birth_date.year + age, 3, 1)


def age_on(birth_date: date, on: date) -> int:
    """Completed years of age on ``on``."""
    years = on.year - birth_date.year
    if on < birthday(birth_date, years):
        years -= 1
    return years


class WorkingDays:
    """Working-day arithmetic over a lazily extended table of years.

    Per day of the table: whether it is a working day, and how many working
    days there are up to and including it; so every question (is it one,
    the n-th after, the n-th before, how many between) is a list lookup."""

    def __init__(self, country: str = "GB", subdiv: str = "ENG", first_year: int = 2000, last_year: int = 2045):
        self.country = country
        self.subdiv = subdiv
        self._first = self._last = None
        self._ordinals: list[int] = []
        self._holidays: set[date] = set()
        self._extend(first_year, last_year)

    def _extend(self, first_year: int, last_year: int) -> None:
        if self._first is not None:
            first_year = min(first_year, self._first)
            last_year = max(last_year, self._last)
        years = range(first_year, last_year + 1)
        self._holidays = set(holidays.country_holidays(self.country, subdiv=self.subdiv, years=years))
        start, end = date(first_year, 1, 1).toordinal(), date(last_year, 12, 31).toordinal()
        working = bytearray(end - start + 1)
        cum = [0] * len(working)  # working days on or before each day of the table
        count = 0
        for k, o in enumerate(range(start, end + 1)):
            if (o + 6) % 7 < 5 and date.fromordinal(o) not in self._holidays:
                working[k] = 1
                count += 1
            cum[k] = count
        self._ordinals = [o for k, o in enumerate(range(start, end + 1)) if working[k]]
        # One shared date object per working day: due dates cost no memory of their own.
        self._dates = [date.fromordinal(o) for o in self._ordinals]
        self._base, self._size = start, len(working)
        self._working, self._cum = working, cum
        self._first, self._last = first_year, last_year

    def _cover(self, d: date, margin_years: int = 2) -> None:
        if d.year - 1 < self._first or d.year + margin_years > self._last:
            self._extend(d.year - 1, d.year + margin_years)

    def _index(self, d: date) -> int:
        """``d``'s place in the table (extending the table to hold it)."""
        k = d.toordinal() - self._base
        if not 0 <= k < self._size:
            self._cover(d)
            k = d.toordinal() - self._base
        return k

    def is_working_day(self, d: date) -> bool:
        k = d.toordinal() - self._base
        if not 0 <= k < self._size:
            self._cover(d, 0)
            k = d.toordinal() - self._base
        return self._working[k] == 1

    def add(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself is day 0)."""
        if n <= 0:
            if n < 0:
                raise ValueError("working days to add must not be negative")
            return start
        k = start.toordinal() - self._base
        if 0 <= k < self._size:
            i = self._cum[k] + n - 1
            if i < len(self._dates):
                return self._dates[i]
        self._cover(start)
        self._cover(start + timedelta(days=n * 2 + 14))
        return self._dates[self._cum[self._index(start)] + n - 1]

    def back(self, start: date, n: int) -> date:
        """The ``n``-th working day before ``start`` (``n`` >= 1)."""
        k = start.toordinal() - self._base
        i = self._cum[k - 1] - n if 0 < k < self._size else -1
        if i < 0:
            self._cover(start)
            self._cover(start - timedelta(days=n * 2 + 14))
            i = self._cum[self._index(start) - 1] - n
        return self._dates[i]

    def on_or_after(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it."""
        k = d.toordinal() - self._base
        if 0 <= k < self._size:
            if self._working[k]:
                return self._dates[self._cum[k] - 1]  # the table's own object for the day
            i = self._cum[k]
            if i < len(self._dates):
                return self._dates[i]
        return d if self.is_working_day(d) else self.add(d, 1)

    def between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end``."""
        self._cover(start)
        self._cover(end)
        return self._cum[self._index(end)] - self._cum[self._index(start)]


_ENGLAND: WorkingDays | None = None


def england() -> WorkingDays:
    """The shared England and Wales working-day calendar."""
    global _ENGLAND
    if _ENGLAND is None:
        _ENGLAND = WorkingDays()
    return _ENGLAND


def add_period(start: date, amount: int, unit: str, working: WorkingDays | None = None) -> date:
    """``start`` plus ``amount`` of ``unit`` (one of :data:`UNITS`)."""
    if unit == "working_days":
        return (working or england()).add(start, amount)
    if unit == "days":
        return canonical(start + timedelta(days=amount))
    if unit == "weeks":
        return canonical(start + timedelta(weeks=amount))
    if unit == "months":
        return add_months(start, amount)
    raise ValueError(f"unknown unit {unit!r} (known: {', '.join(UNITS)})")
