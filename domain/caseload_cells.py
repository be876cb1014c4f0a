"""Reading a caseload row's cells (issue 19): a text, a date in the plausible window, a category, a bounded number;
each refused with a :class:`~domain.caseload_holds.RowRejected` naming the field, never the cell's text."""

from __future__ import annotations

from datetime import date

from domain.caseload_holds import RowRejected
from domain.deadlines import add_months
from domain.rules import ImplausibleDate, check_plausible_date

_MAY_LIE_AHEAD = frozenset({"cer_end", "first_appointment_on"})  # a CER's end; a fixed appointment


def cell_text(raw: dict[str, str | None], name: str) -> str | None:
    value = raw.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def cell_date(raw: dict[str, str | None], name: str, today: date) -> date | None:
    value = cell_text(raw, name)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise RowRejected("DATE_INVALID", f"{name} is not a date in a format of the mapping") from None
    try:
        check_plausible_date(day, today if name != "cer_end" else add_months(today, 12), field=name)
    except ImplausibleDate as exc:
        raise RowRejected("DATE_IMPLAUSIBLE", str(exc)) from None
    if name not in _MAY_LIE_AHEAD and day > today:
        raise RowRejected("DATE_IN_FUTURE", f"{name} {day.isoformat()} is after the import day {today.isoformat()}")
    return day


def cell_enum(cls, raw: dict[str, str | None], name: str, code: str):
    value = cell_text(raw, name)
    if value is None:
        return None
    try:
        return cls(value.upper())
    except ValueError:
        names = ", ".join(m.value for m in cls)
        raise RowRejected(code, f"{name} is not one of: {names}") from None


def cell_number(raw: dict[str, str | None], name: str, low: int, high: int) -> int | None:
    value = cell_text(raw, name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise RowRejected("NUMBER_INVALID", f"{name} is a whole number from {low} to {high}")
    return int(value)
