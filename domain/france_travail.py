"""France Travail registration (2025 rules, §8.3): the periodic sync that asks France Travail who is registered.

Since 1 January 2025 every RSA applicant is registered with France Travail; a 2025 pathway awaits that
registration (its ``FRANCE_TRAVAIL_REGISTRATION`` clock, a task when it runs out). The fact comes from the flow
or from France Travail itself: each day ``FranceTravailSync`` selects from the read model the pathways whose
clock is still open, asks France Travail by opaque person id (never a NIR), and signals
``france_travail_registered`` to those registered. The message's event id is built from the registration date,
so a sync run twice signals nothing new.

Pure: models and names shared by the workflow, its activities and the tests.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from domain.plein_emploi import FranceTravailRegistered

WORKFLOW_TYPE = "FranceTravailSync"
WORKFLOW_ID_PREFIX = "france-travail-sync"  # the schedule appends the scheduled time
SCHEDULE_ID = "france-travail-sync-daily"
MAX_PER_RUN = 5000  # bounds one run's payloads (opaque ids only)

SELECT = "france_travail.select"
CHECK = "france_travail.check"

# Error types of the adapter that no retry fixes (the others: outages, retried).
REFUSED = "FranceTravailRefused"
ANSWER_INVALID = "FranceTravailAnswerInvalid"
NON_RETRYABLE = [REFUSED, ANSWER_INVALID]


class SyncInput(BaseModel):
    """Start input (the schedule's); ``territory`` limits the sync to one territory."""

    territory: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=MAX_PER_RUN, ge=1, le=MAX_PER_RUN)


class Awaiting(BaseModel):
    """A pathway whose registration is awaited: its workflow id and its opaque person id (keyed hash)."""

    pathway_id: str
    person_id: str


class CheckRequest(BaseModel):
    as_of: date
    awaiting: list[Awaiting]


class SyncReport(BaseModel):
    """What one run did, ids counted only."""

    run_on: date
    awaiting: int = 0
    registered: list[str] = Field(default_factory=list)  # pathways signalled
    not_found: list[str] = Field(default_factory=list)  # no running pathway any more
    refused: int = 0  # answers France Travail refused or that were not plausible


def registration(registered_on: date) -> FranceTravailRegistered:
    """The pathway's message; one event id per registration date, so a re-sent one is ignored."""
    return FranceTravailRegistered(event_id=f"france-travail:{registered_on.isoformat()}", registered_on=registered_on)
