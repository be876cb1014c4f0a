"""Appeal windows of a decision against a structure (L10–L13), pure: no Temporal."""

from datetime import date

import pytest
from pydantic import ValidationError

from domain.label import appeal_deadline
from domain.label_appeal import (
    AppealError,
    AppealRecord,
    EvidenceReference,
    check_contentieux,
    check_gracieux,
    check_gracieux_answer,
    check_judgment,
)
from domain.rules import RULESET_2023 as R

NOTIFIED = date(2025, 3, 3)


def opened() -> AppealRecord:
    deadline = appeal_deadline(NOTIFIED, R)
    return AppealRecord(gracieux_deadline=deadline, direct_contentieux_deadline=deadline)


def test_both_windows_open_two_months_after_the_receipt_and_close_on_the_same_day():
    appeal = opened()
    assert appeal.gracieux_deadline == date(2025, 5, 5)  # 3 May is a Saturday: next working day (party deadline)
    assert appeal.last_window_day() == appeal.gracieux_deadline
    assert not appeal.settled(date(2025, 5, 5)) and appeal.settled(date(2025, 5, 6))


def test_late_gracieux_is_refused_with_the_deadline():
    with pytest.raises(AppealError) as refused:
        check_gracieux(opened(), date(2025, 5, 6))
    assert refused.value.kind == "LateFiling" and "2025-05-05" in refused.value.message


def test_pending_gracieux_blocks_contentieux_then_rejection_reopens_it():
    appeal = opened()
    check_gracieux(appeal, date(2025, 4, 1))
    appeal.gracieux_filed_on, appeal.gracieux_answer_due = date(2025, 4, 1), date(2025, 6, 1)
    with pytest.raises(AppealError, match="pending"):
        check_contentieux(appeal)
    with pytest.raises(AppealError, match="already been filed"):
        check_gracieux(appeal, date(2025, 4, 2))
    check_gracieux_answer(appeal)
    assert appeal.last_window_day() is None and not appeal.settled(date(2030, 1, 1))
    appeal.gracieux_outcome, appeal.rejection_on = "rejected", date(2025, 6, 1)
    appeal.contentieux_deadline_after_rejection = appeal_deadline(date(2025, 6, 1), R)
    assert check_contentieux(appeal, date(2025, 7, 31)) == date(2025, 8, 1)
    with pytest.raises(AppealError) as late:
        check_contentieux(appeal, date(2025, 8, 4))
    assert late.value.kind == "LateFiling"


def test_judgment_only_for_a_pending_contentieux():
    appeal = opened()
    with pytest.raises(AppealError):
        check_judgment(appeal)
    appeal.contentieux_filed_on = date(2025, 4, 10)
    check_judgment(appeal)
    assert appeal.pending() == "contentieux" and appeal.open_contentieux_deadline() is None


def test_evidence_is_a_reference_with_its_hash_never_the_document():
    EvidenceReference(document_id="ged-2025-001", sha256="0" * 64, kind="cer_grid")
    for bad in ({"document_id": "ged 1", "sha256": "0" * 64, "kind": "cer_grid"},
                {"document_id": "ged-1", "sha256": "XYZ", "kind": "cer_grid"},
                {"document_id": "ged-1", "sha256": "0" * 64, "kind": "scan", },
                {"document_id": "ged-1", "sha256": "0" * 64, "kind": "cer_grid", "content": "..."}):
        with pytest.raises(ValidationError):
            EvidenceReference.model_validate(bad)
