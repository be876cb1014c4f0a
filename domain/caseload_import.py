"""Messages of the ``CaseloadImport`` workflow (issue 19), shared by the workflow, its activities, CLI and API.
Pure: no I/O."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

#: The contract of the ``CaseloadImport`` workflow: its type and activity names (in histories).
WORKFLOW_TYPE = "CaseloadImport"
SURVEY = "caseload_import.survey"
IMPORT_SLICE = "caseload_import.import_slice"
Outcome = Literal["adopted", "unchanged", "updated", "rejected"]


def caseload_import_workflow_id(file_digest: str, past_breaches: bool = True, update: bool = False) -> str:
    """``caseload-import-<sha256 of the file>[-no-past-breaches][-update]``: the same bytes imported twice with
    the same options are one workflow."""
    return (f"caseload-import-{file_digest}" + ("" if past_breaches else "-no-past-breaches")
            + ("-update" if update else ""))


class CaseloadImportInput(BaseModel):
    file_path: str
    file_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_name: str = Field(max_length=255)
    mapping: dict[str, Any]
    past_breaches: bool = True
    update: bool = False  # a changed row re-adopts its pathway (if nothing happened to it since its adoption)
    pathway_task_queue: str | None = None
    batch_size: int = Field(default=1000, ge=1, le=5000)
    slices_per_run: int = Field(default=100, ge=1)
    heartbeat_timeout_seconds: int = Field(default=60, ge=1)
    state: "CaseloadImportState | None" = None


class CaseloadImportState(BaseModel):
    total: int | None = None
    next_row: int = 1
    adopted: int = 0
    unchanged: int = 0
    updated: int = 0
    rejected: int = 0
    slices_this_run: int = 0
    run: int = 1
    status: Literal["surveying", "importing", "done"] = "surveying"
    today: date | None = None  # the import's day, fixed at its start: a resumed import judges rows alike


class CaseloadSlice(BaseModel):
    file_path: str
    file_digest: str
    file_name: str
    mapping: dict[str, Any]
    past_breaches: bool
    update: bool = False
    pathway_task_queue: str
    first: int
    last: int
    today: date


class RowOutcome(BaseModel):
    row: int
    outcome: Outcome
    code: str | None = None
    reason: str | None = None
    stage: str | None = None


class SliceOutcome(BaseModel):
    adopted: int = 0
    unchanged: int = 0
    updated: int = 0
    rejected: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


class CaseloadImportProgress(BaseModel):
    status: str
    total: int | None
    done: int
    adopted: int
    unchanged: int
    rejected: int
    updated: int = 0
