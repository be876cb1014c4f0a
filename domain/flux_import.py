"""Importing a flow file into pathways: the messages of the ``FluxImport`` workflow and the mapping from
flow events (:mod:`domain.flux_events`) to pathway signals (:mod:`workflows.pathway`).

Pure: no I/O. The workflow, its activities and the CLI share these models.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain import flux_events as fe
from domain.pathway import (
    FlowRecord,
    HouseholdChange,
    HouseholdMemberChanged,
    LeftRsa,
    NotSubjectConfirmed,
    PaymentResumed,
    PaymentSuspended,
)
from domain.pathway_contract import Signal
from domain.pathway_constants import pathway_workflow_id

#: The contract of the ``FluxImport`` and ``FluxDropScan`` workflows: types and activity names (in histories).
WORKFLOW_TYPE = "FluxImport"
DROP_SCAN_WORKFLOW_TYPE = "FluxDropScan"
SURVEY = "flux_import.survey"
IMPORT_SLICE = "flux_import.import_slice"
FINISH = "flux_import.finish"
LIST_DROPPED = "flux_import.list_dropped_files"
#: Territory given to pathways started from a flow: the CNAF flow names no territory (G-X4).
DEFAULT_TERRITORY = "UNASSIGNED"


def flux_import_workflow_id(file_digest: str) -> str:
    """``flux-import-<sha256 of the file>``: the same bytes imported twice are one workflow."""
    return f"flux-import-{file_digest}"


# ---------------------------------------------------------------- workflow messages


class FileSurvey(BaseModel):
    """A first pass over the whole file: what there is to import (counts as in ``--dry-run``)."""

    last_position: int = 0  # highest record position (households, plus a truncation record if any)
    households: int = 0  # accepted households
    persons: int = 0
    subject_to_duties: int = 0
    rejected: int = 0
    flow_date: date | None = None
    flow_type: str | None = None
    subject_to_duties_unknown: int = 0  # persons whose file does not say yet: no pathway started for them
    warnings: int = 0  # unknown codes kept, trailer count differing: nothing rejected


class FluxImportState(BaseModel):
    """Everything the import workflow keeps (also its continue-as-new input)."""

    survey: FileSurvey | None = None
    next_position: int = 1  # first position not handled by a completed slice
    slices: int = 0
    run: int = 1
    slices_this_run: int = 0
    handled: int = 0  # positions handled by completed slices (imported or rejected now, or earlier)
    signals: int = 0  # signals sent by completed slices (this import only)
    status: Literal["surveying", "importing", "finishing", "done"] = "surveying"


class FluxImportInput(BaseModel):
    """Start input of ``FluxImport``. ``file_path`` must be readable by the worker (the drop directory)."""

    file_path: str
    file_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    file_name: str
    source: Literal["CAF", "MSA", "CSV"] = "CAF"
    mapping: dict[str, Any] | None = None  # CSV column mapping (activities.csv_import.ColumnMapping)
    territory: str = DEFAULT_TERRITORY
    pathway_task_queue: str | None = None  # default: the import's own task queue
    batch_size: int | None = Field(default=None, ge=1)  # default: about 20 slices, at least 500 positions
    slices_per_run: int = Field(default=100, ge=1)  # continue as new after this many slices
    heartbeat_timeout_seconds: int = Field(default=60, ge=1)
    remove_when_imported: bool = False  # ``file_path`` is the drop directory's copy: removed once imported
    state: FluxImportState | None = None


class SurveyRequest(BaseModel):
    file_path: str
    file_digest: str
    file_name: str
    source: str = "CAF"
    mapping: dict[str, Any] | None = None


class SliceRequest(BaseModel):
    """Import positions ``first``..``last`` (inclusive) of a file."""

    file_path: str
    file_digest: str
    source: str = "CAF"
    mapping: dict[str, Any] | None = None
    territory: str = DEFAULT_TERRITORY
    pathway_task_queue: str | None = None
    first: int = Field(ge=1)
    last: int = Field(ge=1)
    flow_date: date | None = None  # the survey's DTCREAFLUX (CSV lists: the entry date column, else this)


class SliceProgress(BaseModel):
    """Heartbeat details of a slice: the last position handled and what was done so far."""

    first: int
    last: int
    position: int
    handled: int = 0
    signals: int = 0


class SliceResult(BaseModel):
    first: int
    last: int
    handled: int = 0  # positions of the slice handled by this attempt or an earlier one
    already_done: int = 0  # positions found in the ledger (earlier attempt, earlier import of the file)
    imported: int = 0
    rejected: int = 0
    signals: int = 0
    rechecked_signals: int = 0  # signals found already delivered after a crash (not sent again)


class FinishRequest(BaseModel):
    file_digest: str
    remove_file: str | None = None  # the drop directory's copy, removed once the file is marked imported


class FluxImportResult(BaseModel):
    """The import's outcome, computed from the ledger (so it is the same whatever the retries)."""

    file_digest: str
    file_name: str
    households: int  # accepted households
    persons: int
    subject_to_duties: int
    rejected: int
    signals: int  # pathway signals sent for this file
    new_pathways: int  # persons whose pathway this file started
    positions: int  # positions in the ledger for this file


class FluxImportProgress(BaseModel):
    """Query result of the import workflow (slice-level; heartbeats give the position inside a slice)."""

    status: str
    total: int | None
    done: int
    slices: int
    run: int
    signals: int


class DropScanInput(BaseModel):
    """``FluxDropScan``: import every new file of a drop directory (started daily by a Schedule)."""

    drop_dir: str
    territory: str = DEFAULT_TERRITORY
    pathway_task_queue: str | None = None


class DroppedFile(BaseModel):
    file_path: str
    file_name: str
    file_digest: str
    source: str = "CAF"


class DropScanResult(BaseModel):
    started: list[str] = Field(default_factory=list)  # workflow ids of the imports run by this scan
    skipped: list[str] = Field(default_factory=list)  # already imported or being imported
    failed: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- flow events → pathway signals


class PathwaySignalKind(str, Enum):
    """The pathway signals a flow sends (names of :class:`domain.pathway_contract.Signal`)."""

    FLOW_RECORD = Signal.FLOW_RECORD
    LEFT_RSA = Signal.LEFT_RSA
    PAYMENT_SUSPENDED = Signal.PAYMENT_SUSPENDED
    PAYMENT_RESUMED = Signal.PAYMENT_RESUMED
    NOT_SUBJECT_CONFIRMED = Signal.NOT_SUBJECT_CONFIRMED
    HOUSEHOLD_MEMBER = Signal.HOUSEHOLD_MEMBER


class PathwaySignal(BaseModel):
    """One signal to a person's pathway; ``start`` means signal-with-start (create the pathway if needed)."""

    person_id: str
    name: PathwaySignalKind
    message: FlowRecord | LeftRsa | PaymentSuspended | PaymentResumed | NotSubjectConfirmed | HouseholdMemberChanged
    start: bool = False
    seq_base: int = 0  # a start after the person's former pathway finished: its read-model version

    @property
    def event_id(self) -> str:
        return self.message.event_id


def pathway_signal(event: fe.AnyFlowEvent, observation: fe.FlowObservation) -> PathwaySignal | None:
    """The pathway message a flow event means, or None when the pathway has no message for it.

    Entry events (new entrant, became subject, reopened) start the pathway when the observation
    :func:`~domain.flux_events.starts_pathway`; the others only reach an existing pathway: payment
    suspension and resumption (the right is still open) and the G-B8 confirmation of "non soumis" have
    messages of their own.
    """
    pid = observation.person_id
    starts = fe.starts_pathway(observation)

    def record(subject: bool, transmission: date, *, start: bool) -> PathwaySignal:
        return PathwaySignal(
            person_id=pid, name=PathwaySignalKind.FLOW_RECORD, start=start,
            message=FlowRecord(event_id=event.event_id, transmission_date=transmission,
                               subject_to_duties=subject, rights_open=True),
        )

    if isinstance(event, fe.NewEntrant):
        return record(event.subject_to_duties, event.entry_date, start=starts)
    if isinstance(event, fe.BecameSubject):
        return record(True, event.flow_date, start=starts)
    if isinstance(event, fe.RsaReopened):
        return record(event.subject_to_duties, event.flow_date, start=starts)
    if isinstance(event, fe.NoLongerSubject):
        return record(False, event.flow_date, start=False)
    if isinstance(event, fe.FlowPaymentSuspended):
        return PathwaySignal(
            person_id=pid, name=PathwaySignalKind.PAYMENT_SUSPENDED,
            message=PaymentSuspended(event_id=event.event_id, flow_date=event.flow_date, reasons=list(event.reasons),
                                     since=event.since, right_questioned=event.right_questioned),
        )
    if isinstance(event, fe.FlowPaymentResumed):
        return PathwaySignal(person_id=pid, name=PathwaySignalKind.PAYMENT_RESUMED,
                             message=PaymentResumed(event_id=event.event_id, flow_date=event.flow_date))
    if isinstance(event, fe.FlowNotSubjectConfirmed):
        return PathwaySignal(
            person_id=pid, name=PathwaySignalKind.NOT_SUBJECT_CONFIRMED,
            message=NotSubjectConfirmed(event_id=event.event_id, flow_date=event.flow_date, since=event.since,
                                        flows=event.flows),
        )
    if isinstance(event, fe.FlowLeftRsa):
        return PathwaySignal(
            person_id=pid, name=PathwaySignalKind.LEFT_RSA, start=False,
            message=LeftRsa(event_id=event.event_id, end_of_payment_date=event.end_of_payment_date,
                            reason=event.reason),
        )
    return None


def default_batch_size(last_position: int) -> int:
    """About 20 slices per file, at least 500 positions each: every slice re-reads the file from its
    start (a streaming parser cannot seek, and duplicate detection needs the households before)."""
    return max(500, -(-last_position // 20))


_ROLE = re.compile(r"[A-Z]{2,4}")  # DEM, CJT, ENF, BEN…: a code, anything else is left out
#: The flow events that are a household member's entry into, or exit from, the RSA (G-B20).
_HOUSEHOLD_CHANGES: dict[type, HouseholdChange] = {
    fe.NewEntrant: HouseholdChange.ENTERED, fe.RsaReopened: HouseholdChange.ENTERED, fe.FlowLeftRsa: HouseholdChange.LEFT,
}


def household_signals(observations: list[fe.FlowObservation], events: dict[str, list[fe.AnyFlowEvent]],
                      has_pathway: dict[str, bool]) -> list[PathwaySignal]:
    """G-B20: the persons of one file (matricule) learn each other's pathway ids. Each member with a pathway is
    told of another member's entry or exit in this record; a member entering is told who was already there.
    Only opaque pathway ids and RSA role codes travel (the matricule stays in the flow's encrypted payloads)."""
    signals: list[PathwaySignal] = []
    members = {o.person_id: o for o in observations}
    for pid in members:
        if not has_pathway.get(pid, False):
            continue
        entered = any(isinstance(e, (fe.NewEntrant, fe.RsaReopened)) for e in events.get(pid, []))
        for other, obs in members.items():
            if other == pid:
                continue
            changes = [(e, _HOUSEHOLD_CHANGES[type(e)]) for e in events.get(other, []) if type(e) in _HOUSEHOLD_CHANGES]
            if not changes and entered:
                changes = [(None, HouseholdChange.PRESENT)]
            for event, change in changes:
                ref = event.event_id if event is not None else f"{obs.observation_id}:present"
                role = obs.role if obs.role and _ROLE.fullmatch(obs.role) else None
                signals.append(PathwaySignal(person_id=pid, name=PathwaySignalKind.HOUSEHOLD_MEMBER, message=(
                    HouseholdMemberChanged(event_id=f"{ref}:household", member_pathway_id=pathway_workflow_id(other),
                                           change=change, on=obs.flow_date, role=role))))
    return signals
