"""Human tasks (table ``human_tasks``): who a task is for, its life cycle, and how a workflow closes one.

One place builds the assignees (``SLAI:<territory>``, ``SLAI_MANAGER:<territory>``, ``STRUCTURE:<id>``, ...)
so the pathway rules, the label workflows and the task inbox filters agree. Actors (who claimed or closed a
task) are opaque ids (``agent:<id>``, ``service:<name>``, or ``workflow`` when the awaited event closed it),
never a name.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import Any

from pydantic import BaseModel

from domain.rules import check_plausible_date


class TaskStatus(str, Enum):
    OPEN = "OPEN"
    CLAIMED = "CLAIMED"  # someone works on it
    DONE = "DONE"  # the awaited step happened (closed by the workflow) or a person completed it
    CANCELLED = "CANCELLED"  # no longer needed (the case was closed)


#: Statuses a task can still be claimed, completed or closed from.
ACTIVE_STATUSES = (TaskStatus.OPEN, TaskStatus.CLAIMED)
#: The actor recorded when a workflow closes a task because the event it waited for arrived.
WORKFLOW_ACTOR = "workflow"
#: ``agent:<id>`` / ``service:<name>``: an opaque id, never a name.
ACTOR_PATTERN = r"^(agent|service):[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
#: Assignees as the rules build them: a service, or a service of a territory or structure.
ASSIGNEE_PATTERN = r"^[A-Z][A-Z_]{1,31}(:[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})?$"
_ASSIGNEE = re.compile(ASSIGNEE_PATTERN)

KIND_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
OUTCOME_PATTERN = r"^[A-Z][A-Z0-9_]{0,39}$"
LETTER_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 .\-]{0,31}$"
#: A label workflow's registered letter, a task of the DPID until posted (completed with its number and date).
LETTER_TO_SEND = "LETTER_TO_SEND"
#: The closure reason of a ``LETTER_TO_SEND`` task its case closes when it records the letter's posting.
LETTER_SENT_CLOSURE = "LETTER_SENT"
DPID = "DPID"
CAF = "CAF"


def is_label_task(kind: str) -> bool:
    """A task of a label case (its ``label_*`` kinds and its letters to send): the label scope works on it, the
    pathway scope does not (a pathway task keeps the pathway scope)."""
    return kind == LETTER_TO_SEND or kind.startswith("label_")


def slai(territory: str) -> str:
    """The territory's SLAI (orientation, validations, reorientations)."""
    return f"SLAI:{territory}"


def slai_manager(territory: str) -> str:
    """The SLAI's manager: escalations before a breach (T4)."""
    return f"SLAI_MANAGER:{territory}"


def ep(territory: str) -> str:
    return f"EP:{territory}"


def structure(kind: str, structure_id: str) -> str:
    """A structure's inbox: ``PLATFORM:<id>``, ``REFERENT:<id>`` or ``STRUCTURE:<id>``."""
    return f"{kind}:{structure_id}"


def is_assignee(value: str) -> bool:
    return bool(_ASSIGNEE.match(value))


class OpenTask(BaseModel):
    """A task a workflow created and may close (kept in the workflow's state, bounded)."""

    task_key: str
    kind: str


class TaskClosure(BaseModel):
    """A workflow closes one of its tasks: the event it waited for arrived (``DONE``), or the case no longer needs
    it (``CANCELLED``). ``reason`` is a category (``ORIENTATION_RECORDED``, ``CER_SIGNED``, ...), never free text."""

    task_key: str
    status: TaskStatus = TaskStatus.DONE
    reason: str


class CompletionError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def completion_outcome(kind: str, today: date, *, outcome: str | None = None,
                       registered_letter_number: str | None = None, sent_on: date | None = None) -> dict[str, Any]:
    """What completing a task of ``kind`` records: a category, or for a letter its number and posting day."""
    if outcome is not None and not re.match(OUTCOME_PATTERN, outcome):
        raise CompletionError("outcome", "outcome is a category such as HANDLED (A-Z, 0-9, _)")
    if kind == LETTER_TO_SEND:
        if registered_letter_number is None or sent_on is None:
            missing = "registered_letter_number" if registered_letter_number is None else "sent_on"
            raise CompletionError(missing, f"{missing} is required to mark a letter sent")
        if not re.match(LETTER_NUMBER_PATTERN, registered_letter_number):
            raise CompletionError("registered_letter_number", "a registered-letter number is letters, digits and spaces")
        try:
            check_plausible_date(sent_on, today, field="sent_on")
        except ValueError as error:
            raise CompletionError("sent_on", str(error)) from None
        letter = {"registered_letter_number": registered_letter_number, "sent_on": sent_on.isoformat()}
        return letter | ({"outcome": outcome} if outcome else {})
    if registered_letter_number is not None or sent_on is not None:
        raise CompletionError("body", "only a LETTER_TO_SEND task takes a registered letter")
    if outcome is None:
        raise CompletionError("outcome", "outcome is required")
    return {"outcome": outcome}
