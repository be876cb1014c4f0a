"""Duplicate detection over a whole file stays exact with its compact keys; the summary can bound its list."""

from __future__ import annotations

from domain.flux import FluxSummary, Issue, ParsedRecord, RejectionCode
from domain.flux_validation import DuplicateGuard

# Keys that a lossy or careless packing would confuse: leading zeros, lengths around the 7-byte and
# 17-digit limits, the same bytes as text and as digits, non-ASCII, and shapes kept whole in a dict.
TRICKY = [
    "1", "01", "001", "0000001", "00000001", "123", "0123", "1234567", "01234567", "12345670",
    "9999999", "99999999", "12345678901234567", "012345678901234567", "123456789012345678",
    "1234567890123456789", "A", "A1", "A123456", "A1234567", "1234567A", "É", "É123", "É1234567",
    "١٢٣", "١٢٣٤٥٦٧٨", "\x00", "\x00\x00", "a b", "ab", "AB", "ab\x00", "ZZZZZZZ", "ZZZZZZZZ",
    "}", "000000031",  # same packed bits but for the tag separating short texts from long numbers
]


def test_distinct_matricules_are_never_taken_for_duplicates():
    guard = DuplicateGuard()
    assert [guard.check(key, position) for position, key in enumerate(TRICKY, start=1)] == [None] * len(TRICKY)
    consecutive = DuplicateGuard()
    assert all(consecutive.check(str(n), n) is None for n in range(1_000_000, 1_200_000))


def test_each_repeat_points_at_its_own_first_position():
    guard = DuplicateGuard()
    for position, key in enumerate(TRICKY, start=1):
        guard.check(key, position)
    for offset, key in enumerate(TRICKY):
        issue = guard.check(f"  {key}  " if key.strip() == key else key, 1000 + offset)
        assert issue is not None and issue.code is RejectionCode.DUPLICATE_HOUSEHOLD, key
        assert issue.detail == f"same matricule as the household at position {offset + 1}"


def test_missing_matricules_are_not_duplicates():
    guard = DuplicateGuard()
    assert guard.check(None, 1) is None and guard.check("  ", 2) is None and guard.check("", 3) is None


def _rejected(position: int) -> ParsedRecord:
    return ParsedRecord(position=position, record_hash="h",
                        issues=(Issue(RejectionCode.MISSING_MATRICULE, "MATRICULE (N° CAF/MSA) missing or empty"),))


def test_summary_keeps_every_rejection_by_default_and_the_first_ones_when_bounded():
    full, bounded, counted = FluxSummary(), FluxSummary(keep_rejected=3), FluxSummary(keep_rejected=0)
    for position in range(1, 11):
        for summary in (full, bounded, counted):
            summary.add(_rejected(position))
    assert [r.position for r in full.rejected] == list(range(1, 11))
    assert [r.position for r in bounded.rejected] == [1, 2, 3] and counted.rejected == []
    assert full.rejected_count == bounded.rejected_count == counted.rejected_count == 10
    assert list(bounded.model_dump(mode="json")) == ["households", "persons", "subject_to_duties",
                                                     "subject_to_duties_unknown", "rejected", "warnings"]
