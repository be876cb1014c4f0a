"""Edges of the query string and headers outside the JSON bodies (``workers.api.bodies`` checks those): a route
takes only the query parameters it knows (a typo would otherwise silently widen a list or change an import),
days are ``YYYY-MM-DD`` text within a bounded window (``domain.rules.check_plausible_date``, with the planning
horizon of planned dates: a due date or a deadline may lie ahead), flags are written ``true`` or ``false``
(no ``yes``, ``1`` or ``on``) and whole numbers in digits (no ``+1``, ``5.0`` or `` 5``). Refusals are 422 naming
the parameter.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Callable, Literal

from fastapi import Request
from pydantic import AfterValidator, BeforeValidator

from domain.rules import check_plausible_date
from workers.api.bodies import PLANNING_HORIZON, server_today
from workers.api.errors import ApiError

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")


def only(*allowed: str) -> Callable[[Request], None]:
    """Dependency: refuse query parameters the route does not know."""

    def dependency(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise ApiError(422, "validation_error", f"unknown query parameter {unknown[0]}", field=f"query {unknown[0]}")

    return dependency


def _iso_date(value: Any) -> Any:
    """Dates as ``YYYY-MM-DD`` text only (no timestamps, no numbers)."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


def _digits(value: Any) -> Any:
    """A whole number of the query string or path written in digits only (the route bounds it)."""
    if isinstance(value, str) and not _DIGITS.match(value):
        raise ValueError("a whole number is written in digits")
    return value


def _plausible(day: date) -> date:
    """In the shared window, up to the planning horizon ahead (a due date, a deadline, a posting day)."""
    return check_plausible_date(day, server_today() + PLANNING_HORIZON, field="the day")


IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_plausible)]
#: A whole number of the query string or the path, in digits.
Whole = Annotated[int, BeforeValidator(_digits)]
#: A query flag: ``true`` or ``false`` only.
Flag = Literal["true", "false"]
