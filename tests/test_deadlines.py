"""Deadline arithmetic (domain.md §8.2, G-B1): calendar months, days, service vs party deadlines, Paris time.

Expected dates are written out by hand from the calendar, not recomputed with the code under test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from domain.deadlines import (
    PARIS,
    DeadlineCounting,
    add_days,
    add_months,
    deadline,
    deadline_instant,
    is_public_holiday,
    is_working_day,
    next_working_day,
    paris_date,
    party_deadline,
    service_deadline,
)

D = date.fromisoformat
UTC = timezone.utc


# --- calendar months -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2024-01-31", 1, "2024-02-29"),  # leap year: clamped to 29 February
        ("2023-01-31", 1, "2023-02-28"),  # common year: clamped to 28 February
        ("2000-01-31", 1, "2000-02-29"),  # divisible by 400: leap
        ("2100-01-31", 1, "2100-02-28"),  # divisible by 100 only: not leap
        ("2024-01-30", 1, "2024-02-29"),
        ("2024-01-29", 1, "2024-02-29"),  # the same day number exists: no clamping
        ("2024-01-28", 1, "2024-02-28"),
        ("2024-08-31", 6, "2025-02-28"),  # 31 Aug + 6 months lands in a common February
        ("2023-08-31", 6, "2024-02-29"),  # ... and in a leap February
        ("2024-02-29", 12, "2025-02-28"),  # 29 Feb + 12 months: the day does not exist next year
        ("2024-02-29", 48, "2028-02-29"),  # ... but exists four years later
        ("2024-02-29", 1, "2024-03-29"),  # a clamped start does not "stick" to month ends
        ("2025-03-31", 1, "2025-04-30"),  # 30-day month
        ("2025-05-31", 1, "2025-06-30"),
        ("2025-10-31", 2, "2025-12-31"),
        ("2025-11-15", 2, "2026-01-15"),  # year rollover
        ("2025-12-31", 2, "2026-02-28"),  # rollover and clamping together
        ("2025-01-15", 0, "2025-01-15"),
        ("2025-03-31", -1, "2025-02-28"),  # backwards (e.g. "a month before the deadline")
        ("2025-01-31", -2, "2024-11-30"),  # backwards across a year
        ("2025-01-15", 60, "2030-01-15"),  # label validity: 5 years
    ],
)
def test_add_months_uses_same_day_number_clamped_to_month_end(start, months, expected):
    assert add_months(D(start), months) == D(expected)


def test_add_months_counts_from_the_start_not_month_by_month():
    # 31 Jan + 2 months is 31 March; adding 1 month twice would wrongly give 29 March (clamped in Feb).
    assert add_months(D("2024-01-31"), 2) == D("2024-03-31")
    assert add_months(add_months(D("2024-01-31"), 1), 1) == D("2024-03-29")


def test_add_months_out_of_range_raises():
    with pytest.raises(ValueError):
        add_months(D("9999-12-01"), 1)
    with pytest.raises(ValueError):
        add_months(D("0001-01-01"), -1)


# --- calendar days -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        ("2025-03-01", 14, "2025-03-15"),  # "2 semaines" = 14 calendar days, the start day not counted
        ("2024-02-20", 14, "2024-03-05"),  # across 29 Feb 2024
        ("2023-02-20", 14, "2023-03-06"),  # no 29 Feb in 2023
        ("2024-12-25", 14, "2025-01-08"),  # across the new year
        ("2025-03-10", 0, "2025-03-10"),
        ("2025-03-10", -14, "2025-02-24"),
    ],
)
def test_add_days_counts_calendar_days(start, days, expected):
    assert add_days(D(start), days) == D(expected)


# --- holidays and working days -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        "2025-01-01",  # Jour de l'an
        "2025-04-21",  # Lundi de Pâques (Easter Sunday 20 April 2025)
        "2025-05-01",  # Fête du travail
        "2025-05-08",  # Victoire 1945
        "2025-05-29",  # Ascension (Easter + 39 days)
        "2025-06-09",  # Lundi de Pentecôte (Easter + 50 days)
        "2025-07-14",  # Fête nationale
        "2025-08-15",  # Assomption
        "2025-11-01",  # Toussaint
        "2025-11-11",  # Armistice
        "2025-12-25",  # Noël
        "2024-04-01",  # Lundi de Pâques 2024 (Easter Sunday 31 March 2024)
        "2024-05-09",  # Ascension 2024
        "2024-05-20",  # Lundi de Pentecôte 2024
    ],
)
def test_french_public_holidays(day):
    assert is_public_holiday(D(day))
    assert not is_working_day(D(day))


@pytest.mark.parametrize(
    "day",
    [
        "2025-04-18",  # Good Friday: a holiday only in Alsace-Moselle, not in Pas-de-Calais
        "2025-12-26",  # Saint-Étienne: idem
        "2025-04-22",  # day after Easter Monday
        "2025-03-12",  # an ordinary Wednesday
    ],
)
def test_ordinary_days_are_not_holidays(day):
    assert not is_public_holiday(D(day))
    assert is_working_day(D(day))


def test_weekend_days_are_not_working_days():
    assert not is_working_day(D("2025-03-15"))  # Saturday
    assert not is_working_day(D("2025-03-16"))  # Sunday
    assert not is_public_holiday(D("2025-03-15"))


def test_next_working_day_keeps_a_working_day():
    assert next_working_day(D("2025-03-12")) == D("2025-03-12")


# --- service vs party deadlines ------------------------------------------------------------------------------

# (start, months, days, service last day, party last day, why)
CASES = [
    ("2025-01-12", 2, 0, "2025-03-12", "2025-03-12", "Wednesday: no extension"),
    ("2025-01-15", 2, 0, "2025-03-15", "2025-03-17", "Saturday -> Monday"),
    ("2025-01-16", 2, 0, "2025-03-16", "2025-03-17", "Sunday -> Monday"),
    ("2025-03-01", 2, 0, "2025-05-01", "2025-05-02", "1 May (Thursday) -> Friday"),
    ("2025-05-14", 2, 0, "2025-07-14", "2025-07-15", "14 July (Monday) -> Tuesday"),
    ("2025-09-11", 2, 0, "2025-11-11", "2025-11-12", "11 November (Tuesday) -> Wednesday"),
    ("2025-10-25", 2, 0, "2025-12-25", "2025-12-26", "Christmas (Thursday) -> 26 Dec, worked in Pas-de-Calais"),
    ("2025-11-01", 2, 0, "2026-01-01", "2026-01-02", "1 January (Thursday) -> Friday, across the year"),
    ("2025-02-21", 2, 0, "2025-04-21", "2025-04-22", "Easter Monday -> Tuesday"),
    ("2025-03-29", 2, 0, "2025-05-29", "2025-05-30", "Ascension (Thursday) -> Friday"),
    ("2025-04-09", 2, 0, "2025-06-09", "2025-06-10", "Whit Monday -> Tuesday"),
    ("2025-02-19", 2, 0, "2025-04-19", "2025-04-22", "Saturday, Sunday, Easter Monday -> Tuesday"),
    ("2025-04-07", 2, 0, "2025-06-07", "2025-06-10", "Saturday, Sunday, Whit Monday -> Tuesday"),
    ("2024-09-01", 2, 0, "2024-11-01", "2024-11-04", "All Saints (Friday), Saturday, Sunday -> Monday"),
    ("2024-03-08", 2, 0, "2024-05-08", "2024-05-10", "8 May (Wed) then Ascension (Thu) -> Friday"),
    ("2026-10-25", 2, 0, "2026-12-25", "2026-12-28", "Christmas (Friday), weekend -> Monday 28"),
    ("2024-05-14", 2, 0, "2024-07-14", "2024-07-15", "14 July on a Sunday -> Monday"),
    ("2023-09-11", 2, 0, "2023-11-11", "2023-11-13", "11 November on a Saturday -> Monday"),
    ("2025-03-01", 0, 14, "2025-03-15", "2025-03-17", "14 days ending on a Saturday"),
    ("2025-04-06", 0, 14, "2025-04-20", "2025-04-22", "14 days ending on Easter Sunday"),
    ("2024-11-30", 2, 0, "2025-01-30", "2025-01-30", "clamping not involved, Thursday"),
    ("2023-12-31", 2, 0, "2024-02-29", "2024-02-29", "clamped to 29 Feb 2024, a Thursday"),
    ("2024-12-31", 2, 0, "2025-02-28", "2025-02-28", "clamped to 28 Feb 2025, a Friday"),
    ("2025-03-31", 2, 0, "2025-05-31", "2025-06-02", "31 May is a Saturday -> Monday 2 June"),
]


@pytest.mark.parametrize(("start", "months", "days", "service", "party", "why"), CASES)
def test_party_deadlines_are_extended_service_deadlines_are_not(start, months, days, service, party, why):
    assert service_deadline(D(start), months=months, days=days) == D(service), why
    assert party_deadline(D(start), months=months, days=days) == D(party), why
    assert deadline(D(start), months=months, days=days) == D(service), "service is the default kind"
    assert deadline(D(start), months=months, days=days, kind=DeadlineCounting.PARTY) == D(party)


def test_extended_party_deadline_always_lands_on_a_working_day_over_two_years():
    day = D("2024-01-01")
    while day < D("2026-01-01"):
        due = party_deadline(day, days=14)
        assert is_working_day(due)
        assert 0 <= (due - add_days(day, 14)).days <= 4  # longest chain: e.g. Sat, Sun, holiday Mon (+ Tue)
        day += timedelta(days=1)


def test_months_are_added_before_days():
    # 30 Jan + 1 month = 28 Feb, + 1 day = 1 March (days first would give 31 Jan + 1 month = 28 Feb).
    assert service_deadline(D("2025-01-30"), months=1, days=1) == D("2025-03-01")


@pytest.mark.parametrize(("months", "days"), [(0, 0), (-1, 0), (0, -1), (1, -1)])
def test_deadline_rejects_empty_or_negative_durations(months, days):
    with pytest.raises(ValueError):
        service_deadline(D("2025-01-15"), months=months, days=days)
    with pytest.raises(ValueError):
        party_deadline(D("2025-01-15"), months=months, days=days)


def test_datetimes_are_refused_so_holidays_are_not_silently_missed():
    # A datetime is a date subclass but never equals a holiday date: it must be converted with paris_date.
    instant = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    for call in (
        lambda: add_months(instant, 2),
        lambda: add_days(instant, 14),
        lambda: party_deadline(instant, months=2),
        lambda: is_public_holiday(datetime(2025, 5, 1)),
        lambda: deadline_instant(instant),
    ):
        with pytest.raises(TypeError):
            call()


# --- Paris instants --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_day", "utc_instant", "why"),
    [
        ("2025-01-15", "2025-01-15T23:00:00", "winter: CET, UTC+1"),
        ("2025-07-14", "2025-07-14T22:00:00", "summer: CEST, UTC+2"),
        ("2025-03-29", "2025-03-29T23:00:00", "midnight of 30 March, before the 02:00 spring change: UTC+1"),
        ("2025-03-30", "2025-03-30T22:00:00", "midnight of 31 March, after the spring change: UTC+2"),
        ("2025-10-25", "2025-10-25T22:00:00", "midnight of 26 October, before the 03:00 autumn change: UTC+2"),
        ("2025-10-26", "2025-10-26T23:00:00", "midnight of 27 October, after the autumn change: UTC+1"),
        ("2024-12-31", "2024-12-31T23:00:00", "new year's midnight"),
    ],
)
def test_deadline_instant_is_paris_midnight_after_the_last_day(last_day, utc_instant, why):
    instant = deadline_instant(D(last_day))
    assert instant.tzinfo is not None
    assert instant.astimezone(UTC) == datetime.fromisoformat(utc_instant).replace(tzinfo=UTC), why
    local = instant.astimezone(PARIS)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert local.date() == D(last_day) + timedelta(days=1)
    # The whole last day is still allowed; the next Paris day is not.
    assert paris_date(instant - timedelta(microseconds=1)) == D(last_day)
    assert paris_date(instant) == D(last_day) + timedelta(days=1)


def test_days_around_dst_changes_last_23_and_25_hours():
    # Python subtracts two datetimes sharing one tzinfo as wall-clock times (always 1 day): measure in UTC.
    def elapsed(later, earlier):
        return deadline_instant(D(later)).astimezone(UTC) - deadline_instant(D(earlier)).astimezone(UTC)

    spring = elapsed("2025-03-30", "2025-03-29")
    autumn = elapsed("2025-10-26", "2025-10-25")
    assert deadline_instant(D("2025-03-30")) - datetime(2025, 3, 29, 23, tzinfo=UTC) == spring
    assert spring == timedelta(hours=23)
    assert autumn == timedelta(hours=25)


def test_paris_date_of_utc_instants():
    assert paris_date(datetime(2025, 7, 14, 21, 59, tzinfo=UTC)) == D("2025-07-14")
    assert paris_date(datetime(2025, 7, 14, 22, 0, tzinfo=UTC)) == D("2025-07-15")
    assert paris_date(datetime(2025, 1, 14, 23, 30, tzinfo=UTC)) == D("2025-01-15")
    with pytest.raises(ValueError):
        paris_date(datetime(2025, 1, 14, 23, 30))
