"""Bounds, task groups, stage sets and small helpers shared by the pathway rule mixins (:mod:`domain.pathway_rules`).
"""

from __future__ import annotations

from datetime import date, timedelta

from domain.deadlines import is_working_day
from domain.pathway import DeadlineKind, PathwayRuleError, Stage


#: Bounds keeping the state (and so each continue-as-new payload) small.
MAX_SEEN_EVENT_IDS = 500
MAX_STAGE_HISTORY = 100
MAX_CONVOCATIONS = 20
MAX_LABEL_LOSSES = 20
MAX_OPEN_TASKS = 100
MAX_ANOMALIES = 20
REFUSED_EVENT = "REFUSED_EVENT"

# Tasks closed by the event they wait for (domain/tasks.py): the awaited step of a reminder, an escalation or a request.
ORIENTATION_TASKS = frozenset({"ESCALATION_ORIENTATION", "ORIENTATION_REMINDER"})
APPOINTMENT_TASKS = frozenset({"FIRST_APPOINTMENT_REMINDER", "ESCALATION_FIRST_APPOINTMENT", "RECONVOCATION"})
CER_TASKS = frozenset({"ESCALATION_FIRST_CER", "ESCALATION_REFERENT_CER"})
BILAN_TASKS = frozenset({"BILAN_REMINDER", "ESCALATION_BILAN"})
MAX_SANCTIONS = 20
MAX_HOUSEHOLD = 10

#: Stages where a referent (not the platform) accompanies the person.
REFERENT_STAGES = frozenset(
    {Stage.REFERENT_DESIGNATED, Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING, Stage.CER_ACTIVE, Stage.BILAN}
)
CER_SIGNING_STAGES = frozenset(
    {Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER, Stage.REFERENT_DESIGNATED, Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING}
)
#: Clocks of a CER cycle, cancelled when the referent changes.
CER_CLOCKS = frozenset({DeadlineKind.REFERENT_CER, DeadlineKind.BILAN_REMINDER, DeadlineKind.CER_END, DeadlineKind.BILAN})
PLATFORM_CLOCKS = frozenset({DeadlineKind.FIRST_APPOINTMENT, DeadlineKind.FIRST_APPOINTMENT_REMINDER,
                             DeadlineKind.FIRST_CER, DeadlineKind.SLAI_VALIDATION})
#: The clock each T4/T7 reminder announces (the task's due date is that clock's last day).
ANNOUNCED = {DeadlineKind.ORIENTATION_REMINDER: DeadlineKind.ORIENTATION,
             DeadlineKind.FIRST_APPOINTMENT_REMINDER: DeadlineKind.FIRST_APPOINTMENT}

#: Stages of a person « sans accompagnement » whom the perdus-de-vue campaign may convoke (T26, R4, G-B19):
#: not oriented yet, or oriented / designated but no accompaniment started (no CER).
LOST_FROM_VIEW_STAGES = frozenset(
    {Stage.AWAITING_ORIENTATION, Stage.ORIENTED_TO_PLATFORM, Stage.PLATFORM_FIRST_APPOINTMENT,
     Stage.REFERENT_DESIGNATED, Stage.CER_DRAFTING}
)

#: Clocks of the contract itself: a CER ends on the date it was signed with, whatever pauses happen (R13, CER
#: "d'une durée de 6 mois maximum" [000:181], bilan "à 6 mois" [000:191]); pauses stop service levels (T24), not
#: contracts. Only an amendment or a new CER changes the end. The bilan reminder is fixed with it.
CONTRACT_KINDS = frozenset({DeadlineKind.CER_END, DeadlineKind.BILAN_REMINDER})

#: Rule changes a running workflow learns through ``workflow.patched`` (their ids are the patch ids).
CER_END_FIXED = "cer-end-fixed-at-signature"
BREACH_WITHDRAWAL = "breach-withdrawn-on-late-facts"
#: §8.3: the contrat d'engagement replaces the CER for cases under the 2025 rules (``sign_cer`` refused there).
CER_REPLACED = "cer-replaced-by-contrat-engagement-2025"
#: §8.3: a suspension-remobilisation is the EP's decision: it closes the ``EP_REFERRAL`` task as ``decide_ep`` does
#: (asked only when that task is open; a run that recorded one before keeps the task open).
SANCTION_2025_CLOSES_EP = "sanction-2025-closes-ep-referral-task"

PAUSE_NOT_SUBJECT = "NOT_SUBJECT"
PAUSE_REVIEW = "PERSONAL_REVIEW"
PAUSE_EXIT = "LEFT_RSA"


def pathway_workflow_id(person_id: str) -> str:
    """``pathway-<person id>``: the opaque keyed hash, never the NIR."""
    return f"pathway-{person_id}"


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (weekends and French public holidays skipped)."""
    day = start
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def _not_future(day: date, today: date, what: str) -> None:
    if day > today:
        raise PathwayRuleError("DATE_IN_FUTURE", f"{what} ({day.isoformat()}) cannot be after today ({today.isoformat()})")


def _stage_in(stage: Stage, allowed: frozenset[Stage] | set[Stage], command: str) -> None:
    if stage not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise PathwayRuleError("STAGE_NOT_ALLOWED", f"{command} is not possible in stage {stage.value} (expected: {names})")
