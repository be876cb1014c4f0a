"""Deadline arithmetic for French legal and service deadlines (domain.md §8.2).

Two kinds of deadline exist:

* *service* targets (orientation within 1 month, first appointment within 14 days) end on the computed
  day, whatever day of the week it is;
* *party* deadlines (a party's window to act: appeals, answers) that would end on a Saturday, Sunday or
  French public holiday are extended to the next working day (CPC art. 641–642).

Dates are civil dates in Europe/Paris. A deadline's *last allowed day* is the computed date; the timer
that watches it fires at the start of the following day (``deadline_instant``).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

PARIS = ZoneInfo("Europe/Paris")


class DeadlineCounting(str, Enum):
    """How a deadline is counted: the service's own, or a party's window extended past weekends and holidays
    (the pathway's legal deadlines are ``domain.pathway_stages.DeadlineKind``)."""

    SERVICE = "service"
    PARTY = "party"


def _civil(day: date) -> date:
    """Reject datetimes: a ``datetime`` is a ``date`` subclass, but it never equals a holiday ``date`` and
    would silently skip the holiday extension. Convert instants with :func:`paris_date` first."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a civil date, got {type(day).__name__} (use paris_date() for instants)")
    return day


def add_months(start: date, months: int) -> date:
    """Same day number ``months`` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    start = _civil(start)
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if year < 1:
        raise ValueError("date out of range")
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


def add_days(start: date, days: int) -> date:
    """Calendar days: the starting day does not count (14 days from 1 March is 15 March)."""
    return _civil(start) + timedelta(days=days)


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.France(years=year).keys())


def is_public_holiday(day: date) -> bool:
    """French (metropolitan) public holiday, fixed or Easter-based."""
    day = _civil(day)
    return day in _french_holidays(day.year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_public_holiday(day)


def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def deadline(
    start: date,
    *,
    months: int = 0,
    days: int = 0,
    kind: DeadlineCounting = DeadlineCounting.SERVICE,
) -> date:
    """Last allowed day of a deadline of ``months`` and/or ``days`` counted from ``start``.

    Months are added first, then days. Party deadlines are extended past weekends and holidays.
    """
    if months < 0 or days < 0:
        raise ValueError("a deadline cannot be negative")
    if months == 0 and days == 0:
        raise ValueError("a deadline needs a number of months or days")
    due = add_days(add_months(start, months), days)
    if kind is DeadlineCounting.PARTY:
        due = next_working_day(due)
    return due


def service_deadline(start: date, *, months: int = 0, days: int = 0) -> date:
    return deadline(start, months=months, days=days, kind=DeadlineCounting.SERVICE)


def party_deadline(start: date, *, months: int = 0, days: int = 0) -> date:
    return deadline(start, months=months, days=days, kind=DeadlineCounting.PARTY)


def deadline_instant(last_day: date) -> datetime:
    """The instant a deadline is missed: midnight (Europe/Paris) at the start of the day after ``last_day``.

    Compare or subtract it against ``workflow.now()`` (UTC): Python subtracts two datetimes that share
    this Paris tzinfo as wall-clock times, so convert to UTC before measuring a span across a DST change.
    """
    return datetime.combine(_civil(last_day) + timedelta(days=1), time.min, tzinfo=PARIS)


def paris_date(instant: datetime) -> date:
    """The civil date in Europe/Paris of an aware instant (e.g. ``workflow.now()``)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(PARIS).date()
