"""The label workflows' contract in one place: workflow, update, signal, query and activity names, and
the typed payloads of the activities (tasks, letters, read-model snapshots).

Workflows, activities, the API and the CLI import the names from here; a name is part of the recorded
histories and of the API's routes, so it never changes (add a new one instead).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from domain.set_fields import SetFieldsOnly

LABEL_APPLICATION_WORKFLOW = "LabelApplication"
LABEL_WORKFLOW = "Label"

# --- activities ----------------------------------------------------------------------------------------
ACT_CREATE_TASK = "label.create_task"
ACT_SEND_REGISTERED_LETTER = "label.send_registered_letter"  # renders, stores, asks the DPID to post
ACT_RECORD_LETTER_EVENT = "label.record_letter_event"
ACT_RECORD_APPLICATION = "label.record_application"
ACT_RECORD_LABEL = "label.record_label"
ACT_NOTIFY_PATHWAYS_LABEL_LOST = "label.notify_pathways_label_lost"
ACT_CLOSE_TASKS = "label.close_tasks"


class ApplicationMessages:
    """Updates, signals and queries of ``LabelApplication``."""

    SUBMIT = "submit"
    RECORD_ADMIN_EVALUATION = "record_admin_evaluation"
    SUBMIT_EVALUATION = "submit_evaluation"
    RECORD_TERRITORY_OPINION = "record_territory_opinion"
    RECORD_SLAI_OPINION = "record_slai_opinion"
    RECORD_JOINT_REVIEW = "record_joint_review"
    DECIDE = "decide"
    RECORD_LETTER_SENT = "record_letter_sent"
    ACKNOWLEDGE_RECEIPT = "acknowledge_receipt"
    RECORD_MORATORIUM_SHEET = "record_moratorium_sheet"
    REAPPLY = "reapply"
    FILE_RECOURS_GRACIEUX = "file_recours_gracieux"
    ANSWER_RECOURS_GRACIEUX = "answer_recours_gracieux"
    FILE_RECOURS_CONTENTIEUX = "file_recours_contentieux"
    RECORD_JUDGMENT = "record_judgment"
    SUPERSEDED = "superseded"  # signal
    STATE = "state"  # query


#: Query of both label workflows: one letter of the case, to render (``RegisteredLetter``).
LETTER_QUERY = "letter"

#: Signals one label workflow sends another (a reapplication supersedes the refused application): no API route.
INTERNAL_SIGNALS = frozenset({ApplicationMessages.SUPERSEDED})


class LabelMessages:
    """Updates and queries of ``Label`` (the notice and appeal updates share the application's names)."""

    RECORD_ANNUAL_REVIEW = "record_annual_review"
    REQUEST_RENEWAL = "request_renewal"
    DECIDE_RENEWAL = "decide_renewal"
    END_MISSION = "end_mission"
    REPORT_COMMITMENT_BREACH = "report_commitment_breach"
    RECORD_OBSERVATIONS = "record_observations"
    DECIDE_WITHDRAWAL = "decide_withdrawal"
    REPORT_QUALITY_ISSUE = "report_quality_issue"
    DECIDE_REMEDIATION = "decide_remediation"
    IS_LABELLED = "is_labelled"  # query
    STATE = "state"  # query


class LabelTaskDetails(SetFieldsOnly):
    """What a label task carries besides its kind: ids, dates, counts and categories, never free text about a
    person. One model with optional fields rather than one per kind: most kinds carry the structure alone or one
    or two fields, several kinds share fields (a letter's key, number and posting day), and the task inbox reads
    them without knowing the kind. Only the fields the case set are written (the JSON the recorded histories
    hold, where a key is absent unless given, ``null`` when given as ``None``), in this order."""

    structure_id: str | None = None
    letter_key: str | None = None
    letter_kind: str | None = None  # LETTER_TO_SEND: a domain.label_letters.LetterKind value
    decided_on: date | None = None  # LETTER_TO_SEND
    registered_number: str | None = None
    sent_on: date | None = None
    note: str | None = None  # a fixed hint of the rules, never typed by a person
    filed_on: date | None = None
    round: int | None = None
    months: int | None = None
    year: int | None = None
    consulted: list[str] | None = None  # G-L22: the other territories' SLAIs
    lead: str | None = None
    participants: list[str] | None = None
    requested: list[str] | None = None
    evidence: list[str] | None = None  # L10: document ids
    earliest_reapplication: date | None = None
    window_first: date | None = None
    window_last: date | None = None
    cer_per_professional: int | None = None
    procedure: str | None = None
    label_workflow_id: str | None = None
    reasons: list[str] | None = None  # free text: read from tasks of earlier versions only, no longer written


class LabelTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_key: str  # workflow id + step + business reference
    workflow_id: str
    kind: str
    assignee: str  # "DPID", "SLAI:<territory>"
    due_date: date | None = None
    details: LabelTaskDetails = LabelTaskDetails()


class LetterDates(SetFieldsOnly):
    """The dates a letter states (each labelled in ``domain.label_letters``); only those the case set are written."""

    valid_until: date | None = None
    renewal_window_first: date | None = None
    renewal_window_last: date | None = None
    moratorium_floor: date | None = None
    observation_deadline: date | None = None
    support_until: date | None = None
    effective_on: date | None = None
    contentieux_deadline: date | None = None

    def items(self) -> list[tuple[str, date]]:
        """The dates set, by their name, in declaration order."""
        return [(name, day) for name in type(self).model_fields
                if name in self.model_fields_set and (day := getattr(self, name)) is not None]


class RegisteredLetter(BaseModel):
    """A decision sent by lettre recommandée avec accusé de réception (LRAR)."""

    model_config = ConfigDict(frozen=True)

    letter_key: str
    workflow_id: str
    structure_id: str
    kind: str  # a domain.label_letters.LetterKind value
    decided_on: date
    reasons: list[str]
    territory: str | None = None
    dates: LetterDates = LetterDates()


class LetterEvent(BaseModel):
    """A letter posted (LRAR number, date) or received (acknowledgement date)."""

    model_config = ConfigDict(frozen=True)

    letter_key: str
    registered_number: str | None = None
    sent_on: date | None = None
    received_on: date | None = None


class ApplicationSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str
    structure_id: str
    application_no: int
    territory: str
    stage: str
    filed_on: date | None
    decided_on: date | None
    outcome: str | None
    next_deadline: date | None
    instruction_breached: bool
    funding_blocked: bool
    version: int
    is_open: bool | None = None  # None (DRAFT, or a snapshot from before the registry): the registry is left alone
    in_moratorium: bool = False
    moratorium_until: date | None = None  # first day a new application is possible


class LabelSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    label_key: str
    workflow_id: str
    structure_id: str
    territory: str
    status: str
    granted_on: date
    expires_on: date  # first day no longer valid (moves on renewal)
    ended_on: date | None  # first day no longer valid after a lapse / withdrawal / expiry
    end_reason: str | None
    version: int


class LabelLostNotice(BaseModel):
    """The input of ``label.notify_pathways_label_lost``: a label lapsed, withdrawn or expired."""

    model_config = ConfigDict(frozen=True)

    label_workflow_id: str
    structure_id: str
    reason: str  # a domain.label_events.LabelLossReason value
    effective_date: date
