"""Opaque cursors of the list routes: the last row's sort key (a date, none sorting last, and a unique id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date

NO_DATE = date(9999, 12, 31)  # sorts rows without a date last (the list indexes use the same value)
NO_DATE_SQL = "'9999-12-31'::date"


class InvalidCursor(ValueError):
    pass


def encode_cursor(day: date | None, key: int | str) -> str:
    raw = json.dumps([(day or NO_DATE).isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type) -> tuple[date, int | str]:
    """The sort key a cursor of ``encode_cursor`` holds; InvalidCursor for anything else."""
    try:
        day, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if type(key) is not key_type or not isinstance(day, str):
            raise ValueError
        return date.fromisoformat(day), key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this API returned") from None
