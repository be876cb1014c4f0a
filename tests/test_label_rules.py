"""Pure label rules: ids, instruction, moratorium (G-L10), appeal windows (party deadlines), validity, renewal."""

from __future__ import annotations

from datetime import date

import pytest

from domain import label as L
from domain.rules import RULESET_2023 as R


def test_workflow_ids():
    assert L.application_workflow_id("S-62-0042", 3) == "label-S-62-0042-3"
    assert L.label_workflow_id("S-62-0042") == "labelled-S-62-0042"
    with pytest.raises(ValueError):
        L.application_workflow_id("S 62/0042", 1)
    with pytest.raises(ValueError):
        L.application_workflow_id("S", 0)


def test_instruction_deadlines_from_filing():
    assert L.instruction_due(date(2025, 8, 31), R) == date(2026, 2, 28)
    assert L.instruction_alert_days(date(2025, 1, 31), R) == [(4, date(2025, 5, 31)), (5, date(2025, 6, 30))]


@pytest.mark.parametrize(
    ("notified", "campaign", "earliest"),
    [
        (date(2025, 3, 10), 2025, date(2026, 1, 1)),  # notification + 6 months = Sept 2025 < floor
        (date(2025, 7, 1), 2025, date(2026, 1, 1)),  # exactly the floor
        (date(2025, 9, 15), 2025, date(2026, 3, 15)),  # after the floor
        (date(2026, 3, 10), 2026, date(2026, 9, 10)),  # later campaigns: no floor
        (date(2025, 8, 31), 2026, date(2026, 2, 28)),  # month-end clamping
    ],
)
def test_earliest_reapplication(notified, campaign, earliest):
    assert L.earliest_reapplication(notified, campaign, R) == earliest


def test_moratorium_closes_six_months_after_earliest_reapplication():
    assert L.moratorium_closes_on(date(2026, 1, 1), R) == date(2026, 7, 1)


@pytest.mark.parametrize(
    ("notified", "deadline"),
    [
        (date(2025, 3, 12), date(2025, 5, 12)),  # Monday: no extension
        (date(2025, 8, 4), date(2025, 10, 6)),  # 4 Oct 2025 is a Saturday → Monday 6
        (date(2025, 8, 5), date(2025, 10, 6)),  # Sunday 5 Oct → Monday 6
        (date(2025, 6, 15), date(2025, 8, 18)),  # Friday 15 Aug (Assomption) → Monday 18
        (date(2025, 3, 29), date(2025, 5, 30)),  # Thursday 29 May 2025 (Ascension) → Friday 30
        (date(2025, 4, 1), date(2025, 6, 2)),  # Sunday 1 June → Monday 2
        (date(2025, 4, 9), date(2025, 6, 10)),  # Monday 9 June 2025 (Pentecôte) → Tuesday 10
    ],
)
def test_appeal_windows_are_party_deadlines(notified, deadline):
    assert L.appeal_deadline(notified, R) == deadline


def test_answer_to_recours_gracieux_is_not_extended():
    # 4 Oct 2025 is a Saturday: the administration's silence still becomes a rejection on that day
    assert L.gracieux_answer_due(date(2025, 8, 4), R) == date(2025, 10, 4)


def test_late_filing_message_names_the_deadline():
    message = L.late_filing_message("recours gracieux", date(2025, 10, 7), date(2025, 10, 6))
    assert message == "recours gracieux filed on 2025-10-07 is late: the deadline was 2025-10-06"


def test_validity_and_renewal_window():
    expires = L.label_expires_on(date(2025, 6, 15), R)
    assert expires == date(2030, 6, 15)
    # last valid day 2030-06-14: window January–July 2030, capped at the last valid day
    assert L.renewal_window(expires, R) == (date(2030, 1, 1), date(2030, 6, 14))
    assert L.renewal_window(date(2030, 11, 3), R) == (date(2030, 1, 1), date(2030, 7, 31))
    assert L.renewal_reminders(date(2030, 11, 3), R) == [date(2029, 12, 1), date(2030, 5, 1)]
    assert L.label_expires_on(date(2024, 2, 29), R) == date(2029, 2, 28)


def test_annual_reviews_on_each_anniversary_before_expiry():
    assert L.annual_reviews(date(2025, 6, 15), date(2030, 6, 15)) == [
        date(2026, 6, 15), date(2027, 6, 15), date(2028, 6, 15), date(2029, 6, 15)
    ]


def test_w2_and_w3_periods():
    assert L.observation_deadline(date(2025, 7, 15), R) == date(2025, 8, 18)  # 15 Aug holiday, 16–17 weekend
    assert L.remediation_ends_on(date(2025, 8, 31), R) == date(2026, 2, 28)


def test_letter_reminders_run_from_the_posting_or_from_the_decision():
    from domain.label import letter_reminder

    decided, posted = date(2025, 6, 30), date(2025, 7, 3)
    assert letter_reminder(decided, None, True, R) == (date(2025, 7, 15), "label_letter_not_posted")
    assert letter_reminder(decided, posted, True, R) == (date(2025, 7, 18), "label_letter_receipt_missing")
    assert letter_reminder(decided, posted, False, R) == (date(2025, 7, 18), "label_letter_receipt_missing")
    assert letter_reminder(decided, None, False, R) is None  # a letter written before the posting clock
