"""Appeal windows of one notified decision against a structure (L10–L13), shared by both label workflows.

A refusal (first or final), a withdrawal (W2, W3) or a renewal refusal opens, from the acknowledgement
of receipt, a recours gracieux window and a direct recours contentieux window (2 months each, party
deadlines); a rejected recours gracieux (explicit, or silence at 2 months) opens the contentieux window
again from the rejection. The ``check_*`` functions raise ``AppealError`` with the message for people
and the type the workflows give their refusal; the workflows then call the matching ``record_*``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.label import late_filing_message
from domain.pathway_stages import PathwayRuleError


class AppealError(PathwayRuleError):
    """A refusal of the appeal rules: the label aggregates' refusal (``rule`` = ``kind``)."""

    def __init__(self, message: str, kind: str = "InvalidCommand") -> None:
        super().__init__(kind, message)
        self.message, self.kind = message, kind


class EvidenceReference(BaseModel):
    """L10: a document attached to a recours gracieux, kept outside Temporal: its id and SHA-256 only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: Literal["improvement_actions", "training_attestation", "cer_grid", "other"]


class AppealRecord(BaseModel):
    """Appeal windows of one notified decision."""

    gracieux_deadline: date
    direct_contentieux_deadline: date
    gracieux_filed_on: date | None = None
    gracieux_evidence: list[EvidenceReference] = []
    gracieux_answer_due: date | None = None
    gracieux_outcome: Literal["granted", "rejected"] | None = None
    gracieux_implicit: bool = False
    rejection_on: date | None = None
    contentieux_deadline_after_rejection: date | None = None
    contentieux_filed_on: date | None = None
    judgment: Literal["annulled", "dismissed"] | None = None
    judged_on: date | None = None

    def pending(self) -> Literal["gracieux", "contentieux"] | None:
        if self.contentieux_filed_on is not None and self.judgment is None:
            return "contentieux"
        if self.gracieux_filed_on is not None and self.gracieux_outcome is None:
            return "gracieux"
        return None

    def open_contentieux_deadline(self) -> date | None:
        """The contentieux window currently open, if any (direct, or after a rejected recours gracieux)."""
        if self.contentieux_filed_on is not None or self.gracieux_outcome == "granted":
            return None
        if self.gracieux_filed_on is None:
            return self.direct_contentieux_deadline
        return self.contentieux_deadline_after_rejection  # None while the recours gracieux is pending

    def last_window_day(self) -> date | None:
        """Last day a filing is still possible (None while an appeal is pending or nothing is left)."""
        if self.pending() is not None:
            return None
        days = [d for d in (self.open_contentieux_deadline(),) if d is not None]
        if self.gracieux_filed_on is None and self.contentieux_filed_on is None:
            days.append(self.gracieux_deadline)
        return max(days) if days else None

    def settled(self, today: date) -> bool:
        """Nothing pending and every window closed."""
        last = self.last_window_day()
        return self.pending() is None and (last is None or today > last)


def check_gracieux(appeal: AppealRecord, filed_on: date) -> None:
    if appeal.gracieux_filed_on is not None or appeal.contentieux_filed_on is not None:
        raise AppealError("an appeal against this decision has already been filed")
    if filed_on > appeal.gracieux_deadline:
        raise AppealError(late_filing_message("recours gracieux", filed_on, appeal.gracieux_deadline), "LateFiling")


def check_gracieux_answer(appeal: AppealRecord) -> None:
    if appeal.pending() != "gracieux":
        raise AppealError("no recours gracieux awaiting an answer")


def check_contentieux(appeal: AppealRecord, filed_on: date | None = None) -> date:
    """The open contentieux deadline; with ``filed_on``, also refuses a late filing."""
    if appeal.pending() == "gracieux":
        raise AppealError(f"the recours gracieux is pending: answer due by {appeal.gracieux_answer_due.isoformat()}")
    deadline = appeal.open_contentieux_deadline()
    if deadline is None:
        raise AppealError("no recours contentieux can be filed against this decision")
    if filed_on is not None and filed_on > deadline:
        raise AppealError(late_filing_message("recours contentieux", filed_on, deadline), "LateFiling")
    return deadline


def check_judgment(appeal: AppealRecord) -> None:
    if appeal.pending() != "contentieux":
        raise AppealError("no recours contentieux awaiting judgment")
