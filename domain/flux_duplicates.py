"""The duplicate guard of one file's read: each matricule's first household, remembered exactly."""

from __future__ import annotations

from domain.first_seen import FirstSeenTable
from domain.flux import Issue, RejectionCode


def _packed_key(key: str) -> int | None:
    """A matricule packed losslessly into a non-zero 64-bit integer, or None when it does not fit.

    Up to 7 UTF-8 bytes (top bit set, then the bytes, then the length) or, longer, up to 17 ASCII digits
    (the number, then the length; below 2**62): two key spaces that cannot meet, each one-to-one.
    """
    data = key.encode("utf-8")
    if len(data) <= 7:
        return 1 << 63 | int.from_bytes(data, "big") << 3 | len(data)
    if len(data) <= 17 and data.isdigit():
        return int(data) << 5 | len(data)
    return None


class DuplicateGuard:
    """Remembers, exactly, the matricules seen in one file and the position of each one's first household.

    The one part of a read that grows with the file: a matricule of up to 7 bytes (the 7-digit CAF
    numbers) or 17 digits is packed into a :class:`FirstSeenTable` key (16–32 B per household, where a
    dict of digests took about 120 B); any other shape is kept whole in a dict.
    """

    def __init__(self) -> None:
        self._packed = FirstSeenTable()
        self._other: dict[str, int] = {}

    def check(self, matricule: str | None, position: int) -> Issue | None:
        """None the first time a matricule is seen; an issue naming the first position afterwards."""
        key = "" if matricule is None else matricule.strip()
        if not key:
            return None
        packed = _packed_key(key)
        if packed is None:
            first = self._other.setdefault(key, position)
        else:
            first = self._packed.first_seen(packed, position)
        if first == position:
            return None
        return Issue(RejectionCode.DUPLICATE_HOUSEHOLD, f"same matricule as the household at position {first}")
