"""Transition and validation rules of the beneficiary pathway (domain.md §2.3–§2.4, §3), without I/O.

:class:`Pathway` wraps a :class:`PathwayState`. ``check_*`` methods only read and raise
:class:`PathwayRuleError` (used by update validators); the other methods apply an event at a civil date
``today`` and append what must be written (stage changes, deadlines, breaches, tasks, MonJob62 pushes) to
``state.outbox``. Deadlines are dates computed here once; the workflow only waits for ``next_fire()``.
Breaches never change anything else: they are recorded and escalated to the responsible service (G-B7).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Callable

from domain.deadlines import PARIS, add_days, add_months, is_working_day, paris_date, service_deadline
from domain.flux import MOTISUSVERSRSA
from domain.label_events import LabelLossReason, StructureLabelLost
from domain.pathway import (
    Anomaly,
    ANY_TIME_REASONS,
    EXIT_KINDS,
    EXIT_STAGES,
    PRE_REFERENT_STAGES,
    REMINDER_KINDS,
    SAME_SPHERE_REASONS,
    SLA_KINDS,
    AmendCer,
    AppointmentEvent,
    AppointmentFact,
    AppointmentKind,
    BilanDecision,
    Breach,
    CafFirstInterview,
    CafSaisine,
    CafSaisineDecision,
    Cer,
    CerType,
    CerView,
    CompleteBilan,
    Convocation,
    ConvocationOutcome,
    DecideReorientation,
    Deadline,
    DecisionKind,
    DecisionTaken,
    DeadlineKind,
    DeadlineStatus,
    DeadlineView,
    DiagnosticCompleted,
    EpDecision,
    EpOutcome,
    EpReferral,
    SANCTION_OUTCOMES,
    Sanction,
    EpReferralConfirmation,
    ExitInfo,
    ExitReason,
    FlowRecord,
    HouseholdChange,
    HouseholdMember,
    HouseholdMemberChanged,
    HumanTask,
    LabelLoss,
    LeftRsa,
    LostFromViewConvocation,
    MonJob62Push,
    NonComplianceKind,
    NonComplianceReport,
    NotSubjectConfirmed,
    OrientationDecision,
    OrientationTarget,
    PathwayRow,
    PathwayRuleError,
    PathwayState,
    PathwayView,
    PaymentResumed,
    PaymentSuspended,
    PaymentSuspensionInfo,
    PersonalReviewDecision,
    PersonalReviewOutcome,
    PersonalReviewRequest,
    PostExitChoice,
    PreconisationSubmitted,
    ReorientationReason,
    Referent,
    RequestReorientation,
    SignCer,
    SlaiPreconisationDecision,
    Stage,
    StageChange,
)
from domain.pathway_caf import check_caf_saisine, validate_gesica_bilan, validate_gesica_cer
from domain.rules import RuleSet, check_plausible_date, rule_set, rule_set_for
from domain import tasks as assignee
from domain.tasks import OpenTask, TaskClosure, TaskStatus

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
#: Who applies a sanction to the rights: the Département's RSA service (DPID, A4), which has the CAF apply it.
SANCTION_SERVICE = "SERVICE_RSA"

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


class Pathway:
    """The rules applied to one pathway state (mutated in place)."""

    def __init__(self, state: PathwayState, *, patched: Callable[[str], bool] = lambda change: True) -> None:
        """``patched(change)`` says whether a rule change (``CER_END_FIXED``, ``BREACH_WITHDRAWAL``) applies; it is
        asked only at the moment the change would make a difference, and the workflow answers with
        ``workflow.patched``, so a run that already behaved the old way keeps doing so (pure callers: always)."""
        self.s = state
        self.rules: RuleSet = rule_set(state.rule_set_version)
        self._patched = patched

    @classmethod
    def new(cls, person_id: str, territory: str, today: date, **options: Callable[[str], bool]) -> "Pathway":
        """A new case records the rule set in force on its first day."""
        return cls(PathwayState(person_id=person_id, territory=territory, rule_set_version=rule_set_for(today).version),
                   **options)

    # ------------------------------------------------------------------ bookkeeping

    @property
    def workflow_id(self) -> str:
        return pathway_workflow_id(self.s.person_id)

    def seen(self, event_id: str) -> bool:
        return event_id in self.s.seen_event_ids

    def remember(self, event_id: str) -> None:
        ids = self.s.seen_event_ids
        ids.append(event_id)
        if len(ids) > MAX_SEEN_EVENT_IDS:
            del ids[: len(ids) - MAX_SEEN_EVENT_IDS]

    def _bump(self) -> int:
        self.s.seq += 1
        return self.s.seq

    def _move(self, to: Stage, on: date, cause: str) -> None:
        if self.s.stage is to:
            return
        change = StageChange(seq=self._bump(), from_stage=self.s.stage, to_stage=to, on=on, cause=cause)
        self.s.stage = to
        self.s.stage_history.append(change)
        if len(self.s.stage_history) > MAX_STAGE_HISTORY:
            del self.s.stage_history[: len(self.s.stage_history) - MAX_STAGE_HISTORY]
        self.s.outbox.stage_changes.append(change)

    def _note(self, on: date, cause: str) -> None:
        """An event worth a line in the stage history that does not change the stage (``from_stage`` =
        ``to_stage``): payment suspended / resumed, "non soumis" confirmed, the referent's label lost."""
        change = StageChange(seq=self._bump(), from_stage=self.s.stage, to_stage=self.s.stage, on=on, cause=cause)
        self.s.stage_history.append(change)
        if len(self.s.stage_history) > MAX_STAGE_HISTORY:
            del self.s.stage_history[: len(self.s.stage_history) - MAX_STAGE_HISTORY]
        self.s.outbox.stage_changes.append(change)

    def _decided(self, kind: DecisionKind, outcome: str) -> None:
        self.s.outbox.decisions.append(DecisionTaken(kind=kind, outcome=outcome))

    def _hold(self, to: Stage, on: date, cause: str) -> None:
        """Enter a stage that returns to the current one when it ends."""
        self.s.held_stages.append(self.s.stage)
        self._move(to, on, cause)

    def _release(self, on: date, cause: str) -> None:
        previous = self.s.held_stages.pop() if self.s.held_stages else Stage.AWAITING_ORIENTATION
        self._move(previous, on, cause)

    def _touch(self, deadline: Deadline) -> None:
        deadline.version = self._bump()
        pending = self.s.outbox.deadlines
        for i, queued in enumerate(pending):
            if queued.id == deadline.id:
                pending[i] = deadline.model_copy(deep=True)
                return
        pending.append(deadline.model_copy(deep=True))

    def _add_deadline(self, kind: DeadlineKind, started_on: date, due: date, responsible: str) -> Deadline:
        deadline = Deadline(
            id=f"{kind.value.lower()}-{self.s.seq + 1}", kind=kind, started_on=started_on, due=due, responsible=responsible
        )
        self.s.deadlines.append(deadline)
        self._touch(deadline)
        return deadline

    def _pending(self, kinds: frozenset[DeadlineKind] | set[DeadlineKind]) -> list[Deadline]:
        return [d for d in self.s.deadlines if d.kind in kinds and d.status is DeadlineStatus.PENDING]

    def _settle(self, kind: DeadlineKind, on: date, today: date) -> None:
        """The awaited step happened on ``on``: met if on time, else a breach (if the timer did not record it); a
        breach the timer recorded before this fact was known is withdrawn if the fact is dated in time."""
        for d in self._pending({kind}):
            if on <= d.due:
                d.status = DeadlineStatus.MET
                d.closed_on = on
                self._touch(d)
            else:
                self._breach(d)
        self._withdraw_breaches(kind, on, today)

    def _withdraw_breaches(self, kind: DeadlineKind, on: date, today: date) -> None:
        """A late-known fact (e.g. an orientation notified on day 28, recorded on day 32 after the breach of day
        31) shows the deadline was met: the breach stays in the history, withdrawn with why; its clock is MET on
        the fact's day and its escalation task is closed."""
        for b in self.s.breaches:
            if b.kind is not kind or b.withdrawn_on is not None or on > b.due:
                continue
            clock = next((d for d in self.s.deadlines if d.id == b.deadline_id), None)
            started = clock.started_on if clock is not None else b.started_on
            if started is not None and on < started:
                continue  # a fact of an earlier clock of the same kind
            if not self._patched(BREACH_WITHDRAWAL):
                return
            b.withdrawn_on = today
            b.withdrawal_reason = (f"LATE_FACT: {kind.value} step dated {on.isoformat()}, on or before the due day "
                                   f"{b.due.isoformat()}, recorded on {today.isoformat()}")
            self.s.outbox.breaches.append(b.model_copy())
            if clock is not None:
                clock.status = DeadlineStatus.MET
                clock.closed_on = on
                self._touch(clock)
            escalation = self._task_key(f"ESCALATION_{kind.value}", b.deadline_id)
            self.s.open_tasks = [t for t in self.s.open_tasks if t.task_key != escalation]
            self.s.outbox.task_closures.append(
                TaskClosure(task_key=escalation, status=TaskStatus.CANCELLED, reason="BREACH_WITHDRAWN"))
            self._note(today, f"BREACH_WITHDRAWN:{kind.value}")

    def active_breaches(self) -> list[Breach]:
        """Breaches not withdrawn (``BreachCount``, the row's ``breach_count``)."""
        return [b for b in self.s.breaches if b.withdrawn_on is None]

    def _cancel(self, kinds: frozenset[DeadlineKind] | set[DeadlineKind], on: date) -> None:
        for d in self._pending(kinds):
            d.status = DeadlineStatus.CANCELLED
            d.closed_on = on
            d.paused_by = []
            d.paused_since = None
            self._touch(d)

    def _pause(self, reason: str, on: date, *, keep: frozenset[DeadlineKind] = frozenset()) -> None:
        if any(d.kind in CONTRACT_KINDS and d.status is DeadlineStatus.PENDING for d in self.s.deadlines) \
                and self._patched(CER_END_FIXED):
            keep = keep | CONTRACT_KINDS
        for d in self.s.deadlines:
            if d.status is not DeadlineStatus.PENDING or d.kind in keep or reason in d.paused_by:
                continue
            if not d.paused_by:
                d.paused_since = on
            d.paused_by.append(reason)
            self._touch(d)

    def _resume(self, reason: str, on: date) -> None:
        """Lift a pause; a clock that is no longer paused is moved by the number of days it was paused."""
        for d in self.s.deadlines:
            if d.status is not DeadlineStatus.PENDING or reason not in d.paused_by:
                continue
            d.paused_by.remove(reason)
            if not d.paused_by and d.paused_since is not None:
                d.due = add_days(d.due, max(0, (on - d.paused_since).days))
                d.paused_since = None
            self._touch(d)

    def _pauses_in_force(self) -> list[str]:
        """The pauses the person is under now (a clock started during them starts paused)."""
        s = self.s
        pauses = []
        if s.stage is Stage.NOT_SUBJECT or Stage.NOT_SUBJECT in s.held_stages:
            pauses.append(PAUSE_NOT_SUBJECT)
        if s.personal_review_requested_on is not None:
            pauses.append(PAUSE_REVIEW)
        if s.exit is not None:
            pauses.append(PAUSE_EXIT)
        return pauses

    def _remind(self, kind: DeadlineKind, of: Deadline, days: int, owner: str, today: date) -> None:
        """The reminder of clock ``of`` on its ``days``-th day (T4, T7), for a pathway with reminders and unless
        that day has passed; it shares the clock's pauses."""
        day = add_days(of.started_on, days)
        if not self.s.reminders or day < today:
            return
        reminder = self._add_deadline(kind, of.started_on, day, owner)
        if of.paused_by:
            reminder.paused_by = list(of.paused_by)
            reminder.paused_since = of.paused_since
            self._touch(reminder)

    def enable_reminders(self, today: date) -> None:
        """Keep the T4/T7 reminders in this pathway (the workflow decides, once, in a pathway's first run) and add
        those of the clocks already running: the start signal is applied before the workflow's main loop."""
        s = self.s
        s.reminders = True
        for d in self._pending({DeadlineKind.ORIENTATION}):
            self._remind(DeadlineKind.ORIENTATION_REMINDER, d, self.rules.orientation_reminder_days, self.slai_manager, today)
        if s.platform is not None and s.first_appointment_on is None:
            for d in self._pending({DeadlineKind.FIRST_APPOINTMENT}):
                self._remind(DeadlineKind.FIRST_APPOINTMENT_REMINDER, d, self.rules.first_appointment_reminder_days,
                             self._structure_assignee(s.platform), today)

    def _breach(self, d: Deadline) -> None:
        breached_on = add_days(d.due, 1)
        d.status = DeadlineStatus.BREACHED
        d.closed_on = breached_on
        self._touch(d)
        breach = Breach(deadline_id=d.id, kind=d.kind, due=d.due, breached_on=breached_on, responsible=d.responsible,
                        started_on=d.started_on)
        self.s.breaches.append(breach)
        self.s.outbox.breaches.append(breach)
        self._task(f"ESCALATION_{d.kind.value}", d.responsible, d.id, breached_on, {"deadline": d.kind.value, "due": d.due.isoformat()})

    def _task_key(self, kind: str, ref: str) -> str:
        return f"{self.workflow_id}:{kind}:{ref}"

    def _task(self, kind: str, assignee: str, ref: str, due: date | None, details: dict[str, str] | None = None) -> None:
        key = self._task_key(kind, ref)
        self.s.outbox.tasks.append(HumanTask(task_key=key, kind=kind, assignee=assignee, due_date=due, details=details or {}))
        if self.s.closes_tasks and all(t.task_key != key for t in self.s.open_tasks):
            self.s.open_tasks.append(OpenTask(task_key=key, kind=kind))
            if len(self.s.open_tasks) > MAX_OPEN_TASKS:
                del self.s.open_tasks[: len(self.s.open_tasks) - MAX_OPEN_TASKS]

    def _close_tasks(self, kinds: frozenset[str] | None, reason: str, status: TaskStatus = TaskStatus.DONE) -> None:
        """The event the open tasks of ``kinds`` (None: all) waited for arrived: the workflow closes them."""
        closing = [t for t in self.s.open_tasks if kinds is None or t.kind in kinds]
        if not closing:
            return
        self.s.open_tasks = [t for t in self.s.open_tasks if t not in closing]
        self.s.outbox.task_closures.extend(TaskClosure(task_key=t.task_key, status=status, reason=reason) for t in closing)

    def refuse(self, message: str, event_id: str, code: str, today: date) -> Anomaly:
        """A message the rules could not apply: an anomaly in the case and a task for the responsible service."""
        anomaly = Anomaly(anomaly_id=f"anomaly-{self._bump()}", message=message, event_id=event_id, code=code,
                          stage=self.s.stage, received_on=today)
        self.s.anomalies.append(anomaly)
        if len(self.s.anomalies) > MAX_ANOMALIES:
            del self.s.anomalies[: len(self.s.anomalies) - MAX_ANOMALIES]
        self.s.outbox.anomalies.append(anomaly)
        self._task(REFUSED_EVENT, self._structure_assignee(self.accompanying), anomaly.anomaly_id, today,
                   {"message": message, "code": code, "stage": anomaly.stage.value})
        return anomaly

    def _push(self, kind: str, ref: str, data: dict) -> None:
        data = {"person_id": self.s.person_id, **data}
        self.s.outbox.pushes.append(MonJob62Push(kind=kind, idempotency_key=f"{self.workflow_id}:{kind}:{ref}", data=data))

    # responsible services (assignees of tasks)
    @property
    def slai(self) -> str:
        return assignee.slai(self.s.territory)

    @property
    def slai_manager(self) -> str:
        """Escalations before a breach go to the SLAI manager (T4)."""
        return assignee.slai_manager(self.s.territory)

    def _structure_assignee(self, ref: Referent | None) -> str:
        if ref is None:
            return self.slai
        return assignee.structure("PLATFORM" if ref.type is OrientationTarget.PLATFORM else "REFERENT", ref.structure_id)

    @property
    def accompanying(self) -> Referent | None:
        """Who accompanies now: the referent once designated, else the platform."""
        return self.s.referent or self.s.platform

    # ------------------------------------------------------------------ reading

    def active_deadlines(self) -> list[Deadline]:
        return [d for d in self.s.deadlines if d.active]

    def next_fire(self) -> datetime | None:
        fires = [d.fires_at() for d in self.active_deadlines()]
        return min(fires) if fires else None

    def next_due(self) -> date | None:
        upcoming = self.next_deadline()
        return upcoming.due if upcoming else None

    def next_deadline(self) -> Deadline | None:
        """The next running clock (a reminder is a step, not a deadline)."""
        running = [d for d in self.active_deadlines() if d.kind not in REMINDER_KINDS]
        return min(running, key=lambda d: (d.due, d.id)) if running else None

    def next_deadline_instant(self) -> datetime | None:
        """Search attribute ``NextDeadline``: when the next running clock fires, reminders left out. Pathways opened
        before the T4/T7 reminders keep counting the bilan reminder, as their histories upserted it."""
        if not self.s.reminders:
            return self.next_fire()
        upcoming = self.next_deadline()
        return upcoming.fires_at() if upcoming else None

    def summary(self) -> str:
        """One line for the Temporal UI (« current details »): stage and next deadline, categories only."""
        upcoming = self.next_deadline()
        if upcoming is not None:
            return f"{self.s.stage.value} · next deadline {upcoming.kind.value} {upcoming.due.isoformat()}"
        if any(d.status is DeadlineStatus.PENDING and d.paused_by for d in self.s.deadlines):
            return f"{self.s.stage.value} · clocks paused"
        return f"{self.s.stage.value} · no deadline"

    def cer_end_instant(self) -> datetime | None:
        """Search attribute ``CerEnd``: the active CER's last day, as midnight (Europe/Paris) starting it."""
        return datetime.combine(self.s.cer.end, time.min, tzinfo=PARIS) if self.s.cer is not None else None

    def view(self) -> PathwayView:
        s = self.s
        cer = s.cer
        return PathwayView(
            person_id=s.person_id,
            stage=s.stage,
            entry_date=s.entry_date,
            rsa_entry_date=s.rsa_entry_date,
            rule_set_version=s.rule_set_version,
            subject_to_duties=s.subject_to_duties,
            referent_type=self.accompanying.type if self.accompanying else None,
            referent_structure_id=self.accompanying.structure_id if self.accompanying else None,
            active_cer=CerView(
                cer_id=cer.cer_id, type=cer.type, start=cer.start, end=cer.end, renewal=cer.renewal,
                physical_appointments=cer.physical_appointments,
            ) if cer else None,
            deadlines=[
                DeadlineView(
                    id=d.id, kind=d.kind, due=d.due,
                    status="PAUSED" if d.paused_by and d.status is DeadlineStatus.PENDING else d.status.value,
                )
                for d in s.deadlines
            ],
            breaches=list(s.breaches),
            stage_history=list(s.stage_history),
            run=s.run,
            exit_reason=s.exit_reason,
            payment_suspension=s.payment_suspension,
            not_subject_confirmed_since=s.not_subject_confirmed_since,
            convocations=list(s.convocations),
            label_losses=list(s.label_losses),
            anomalies=list(s.anomalies),
            sanctions=list(s.sanctions),
            household=list(s.household),
            decisions=list(s.decision_log),
        )

    def row(self) -> PathwayRow:
        s = self.s
        ref = self.accompanying
        return PathwayRow(
            pathway_id=self.workflow_id, person_id=s.person_id, territory=s.territory, rule_set=s.rule_set_version,
            stage=s.stage, subject_to_duties=s.subject_to_duties, referent_type=ref.type if ref else None,
            referent_structure_id=ref.structure_id if ref else None, entry_date=s.entry_date,
            rsa_entry_date=s.rsa_entry_date,
            orientation_target=s.orientation_target, orientation_notified_on=s.orientation_notified_on,
            caf_saisine_mode=s.caf_saisine_mode, next_deadline=self.next_due(), breach_count=len(self.active_breaches()),
            cer_count=s.cer_count, closed_on=s.closed_on, exit_reason=s.exit_reason, version=s.seq,
        )

    def forget_settled_deadlines(self) -> None:
        """Drop closed clocks from state at a cycle boundary (they are in the read model)."""
        self.s.deadlines = [d for d in self.s.deadlines if d.status is DeadlineStatus.PENDING]

    # ------------------------------------------------------------------ timers

    def expire(self, now: datetime) -> list[Deadline]:
        """Apply every active clock whose instant has come, oldest first."""
        fired: list[Deadline] = []
        while True:
            due = [d for d in self.active_deadlines() if d.fires_at() <= now]
            if not due or self.s.finished:
                return fired
            d = min(due, key=lambda x: (x.fires_at(), x.id))
            self._fire(d)
            fired.append(d)

    def _fire(self, d: Deadline) -> None:
        on = paris_date(d.fires_at())
        if d.kind in SLA_KINDS:
            self._breach(d)
            return
        d.status = DeadlineStatus.FIRED
        d.closed_on = on
        self._touch(d)
        if d.kind is DeadlineKind.BILAN_REMINDER:
            self._task("BILAN_REMINDER", self._structure_assignee(self.s.referent), d.id,
                       add_days(d.due, self.rules.bilan_reminder_days), {"cer_end": (self.s.cer.end.isoformat() if self.s.cer else "")})
        elif d.kind in ANNOUNCED:
            announced = next(iter(self._pending({ANNOUNCED[d.kind]})), None)
            due = announced.due if announced else None
            self._task(d.kind.value, d.responsible, d.id, due,
                       {"deadline": ANNOUNCED[d.kind].value, "due": due.isoformat() if due else ""})
        elif d.kind is DeadlineKind.CER_END:
            self._cer_ended(on)
        elif d.kind is DeadlineKind.EXIT_CHOICE:
            exit_ = self.s.exit
            assert exit_ is not None
            self._close_tasks(frozenset({"CHOOSE_AFTER_EXIT"}), "EXIT_CHOICE_EXPIRED")
            self._close(ExitReason.SORTIE_RSA, on, reentry_until=service_deadline(exit_.end_of_payment, months=self.rules.post_exit_months))
        elif d.kind is DeadlineKind.POST_EXIT_END:
            self._close(ExitReason.FIN_POST_SORTIE, on)
        elif d.kind is DeadlineKind.REENTRY_WINDOW:
            self._finish(on)

    def _cer_ended(self, on: date) -> None:
        cer = self.s.cer
        if self.s.stage is Stage.CER_ACTIVE:
            self._move(Stage.BILAN, on, "CER_END")
        elif Stage.CER_ACTIVE in self.s.held_stages:
            idx = len(self.s.held_stages) - 1 - self.s.held_stages[::-1].index(Stage.CER_ACTIVE)
            self.s.held_stages[idx] = Stage.BILAN
        end = cer.end if cer else on
        bilan = self._add_deadline(DeadlineKind.BILAN, end, add_days(end, self.rules.bilan_overdue_days),
                                   self._structure_assignee(self.s.referent))
        pauses = self._pauses_in_force()
        if pauses:  # the CER ended during a pause: the bilan is due, its overdue clock waits (T24)
            bilan.paused_by = pauses
            bilan.paused_since = on
            self._touch(bilan)
        if cer is not None:
            self.s.outbox.cers.append(cer.model_copy())

    # ------------------------------------------------------------------ flow records (T1–T3, T24, T25)

    def on_flow_record(self, msg: FlowRecord, today: date) -> None:
        s = self.s
        check_plausible_date(msg.transmission_date, today, field="transmission_date")
        s.rsa_majore = msg.rsa_majore
        if msg.rsa_entry_date is not None and (s.rsa_entry_date is None or msg.rsa_entry_date < s.rsa_entry_date):
            s.rsa_entry_date = msg.rsa_entry_date  # G-B2: kept beside the transmission date, never moves the clock
        if s.stage in EXIT_STAGES:
            if msg.rights_open and s.exit is not None:
                self._reenter(today)
            else:
                return
        s.subject_to_duties = msg.subject_to_duties
        if s.stage is Stage.DETECTED:
            if msg.subject_to_duties:
                self._start_orientation_clock(msg.transmission_date, today)
            else:
                self._hold(Stage.NOT_SUBJECT, today, "FLOW_NOT_SUBJECT")
            return
        if not msg.subject_to_duties and s.stage is not Stage.NOT_SUBJECT:
            self._pause(PAUSE_NOT_SUBJECT, today)
            self._hold(Stage.NOT_SUBJECT, today, "FLOW_NOT_SUBJECT")
        elif msg.subject_to_duties and s.stage is Stage.NOT_SUBJECT:
            s.not_subject_confirmed_since = None
            self._close_tasks(frozenset({"REVIEW_NOT_SUBJECT"}), "SUBJECT_AGAIN")
            if s.held_stages and s.held_stages[-1] is Stage.DETECTED:
                s.held_stages.pop()  # never oriented: the clock starts at this first "soumis" flow (G-B2)
                self._start_orientation_clock(msg.transmission_date, today)
            else:
                self._resume(PAUSE_NOT_SUBJECT, today)
                self._release(today, "FLOW_SUBJECT")

    def _start_orientation_clock(self, transmission_date: date, today: date) -> None:
        self.s.entry_date = transmission_date
        due = service_deadline(transmission_date, months=self.rules.orientation_months)
        clock = self._add_deadline(DeadlineKind.ORIENTATION, transmission_date, due, self.slai)
        self._remind(DeadlineKind.ORIENTATION_REMINDER, clock, self.rules.orientation_reminder_days, self.slai_manager, today)
        self._move(Stage.AWAITING_ORIENTATION, today, "FLOW_SUBJECT")

    # ------------------------------------------------------------------ orientation (T4, T5)

    def check_orientation(self, msg: OrientationDecision, today: date) -> None:
        _stage_in(self.s.stage, {Stage.AWAITING_ORIENTATION}, "Orientation")
        _not_future(msg.notified_on, today, "Orientation notification date")
        if self.s.entry_date and msg.notified_on < self.s.entry_date:
            raise PathwayRuleError("ORIENTATION_BEFORE_ENTRY", "Orientation cannot be notified before the CAF transmission date")
        if msg.target is OrientationTarget.CAF:
            raise PathwayRuleError(
                "ORIENTATION_CAF_BY_SAISINE", "Orientation to the CAF goes through a CAF saisine (modes M1–M3, §3.2)"
            )
        if msg.target is not OrientationTarget.PLATFORM and not (msg.bypass_reason or "").strip():
            raise PathwayRuleError(
                "ORIENTATION_BYPASS_REASON_REQUIRED",
                "Bypassing the platform needs a reason (G-B18: 98% are oriented to the platform [002:401])",
            )

    def orient(self, msg: OrientationDecision, today: date) -> None:
        s = self.s
        self._decided(DecisionKind.ORIENTATION, msg.target.value)
        s.orientation_target = msg.target
        s.orientation_notified_on = msg.notified_on
        s.orientation_bypass_reason = msg.bypass_reason
        self._settle(DeadlineKind.ORIENTATION, msg.notified_on, today)
        self._cancel({DeadlineKind.ORIENTATION_REMINDER}, today)
        self._close_tasks(ORIENTATION_TASKS, "ORIENTATION_RECORDED")
        ref = Referent(type=msg.target, structure_id=msg.structure_id, designated_on=msg.notified_on)
        owner = self._structure_assignee(ref)
        first_appointment = self._add_deadline(DeadlineKind.FIRST_APPOINTMENT, msg.notified_on,
                                               service_deadline(msg.notified_on, days=self.rules.first_appointment_days), owner)
        self._add_deadline(DeadlineKind.FIRST_CER, msg.notified_on,
                           service_deadline(msg.notified_on, months=self.rules.first_cer_months), owner)
        if msg.target is OrientationTarget.PLATFORM:
            self._remind(DeadlineKind.FIRST_APPOINTMENT_REMINDER, first_appointment,
                         self.rules.first_appointment_reminder_days, owner, today)
            s.platform = ref
            self._move(Stage.ORIENTED_TO_PLATFORM, today, "ORIENTATION_NOTIFIED")
        else:
            s.referent = ref
            s.referent_designated = True
            self._move(Stage.REFERENT_DESIGNATED, today, "DIRECT_ORIENTATION")

    # ------------------------------------------------------------------ appointments (T7–T9, T16)

    def on_appointment(self, msg: AppointmentEvent, today: date) -> None:
        s = self.s
        platform_stages = {Stage.ORIENTED_TO_PLATFORM, Stage.PLATFORM_FIRST_APPOINTMENT}
        direct_first = {Stage.REFERENT_DESIGNATED, Stage.CER_DRAFTING, Stage.CAF_FIRST_INTERVIEW}
        if msg.kind is not AppointmentKind.MISSED and (s.stage in platform_stages or s.stage in direct_first
                                                       or s.stage is Stage.CER_ACTIVE):
            self._close_tasks(APPOINTMENT_TASKS, "APPOINTMENT_RECORDED")
        if msg.kind is AppointmentKind.SCHEDULED:
            if s.stage in platform_stages:
                if s.first_appointment_on is not None:
                    s.reconvocations += 1
                s.first_appointment_on = msg.appointment_date
                self._cancel({DeadlineKind.FIRST_APPOINTMENT_REMINDER}, today)  # fixed, even if too late (T7)
                self._settle_if_scheduled_in_time(msg.appointment_date, today)
                self._move(Stage.PLATFORM_FIRST_APPOINTMENT, today, "APPOINTMENT_SCHEDULED")
            elif s.stage in direct_first or s.stage is Stage.CER_ACTIVE:
                self._settle_if_scheduled_in_time(msg.appointment_date, today)
            else:
                raise PathwayRuleError("STAGE_NOT_ALLOWED", f"appointment scheduled in stage {s.stage.value}")
        elif msg.kind is AppointmentKind.HELD:
            if s.stage in platform_stages:
                self._cancel({DeadlineKind.FIRST_APPOINTMENT_REMINDER}, today)
                self._settle_if_scheduled_in_time(msg.appointment_date, today)
                self._move(Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER, today, "APPOINTMENT_HELD")
            elif s.stage is Stage.CER_ACTIVE and s.cer is not None:
                self._settle_if_scheduled_in_time(msg.appointment_date, today)  # a direct orientation's first one
                if msg.physical:
                    s.cer.physical_appointments += 1
            elif s.stage in direct_first:
                self._settle_if_scheduled_in_time(msg.appointment_date, today)
            else:
                raise PathwayRuleError("STAGE_NOT_ALLOWED", f"appointment held in stage {s.stage.value}")
        else:  # MISSED
            if s.stage is Stage.PLATFORM_FIRST_APPOINTMENT:
                if not msg.excused:
                    s.platform_missed_unexcused += 1
                if s.platform_missed_unexcused > self.rules.max_reconvocations:
                    self._propose_ep(NonComplianceKind.UNEXCUSED_ABSENCE, today)
                else:
                    self._task("RECONVOCATION", self._structure_assignee(s.platform), f"missed-{self.s.seq}", today)
            elif s.stage is Stage.CER_ACTIVE and s.cer is not None:
                if not msg.excused:
                    s.cer.missed_unexcused += 1
                    if s.cer.missed_unexcused >= self.rules.non_compliance_missed_appointments:
                        self._propose_ep(NonComplianceKind.UNEXCUSED_ABSENCE, today)
            else:
                raise PathwayRuleError("STAGE_NOT_ALLOWED", f"appointment missed in stage {s.stage.value}")
        self._appointment_fact(msg.event_id, msg.kind, msg.appointment_date, today, msg.physical, msg.excused)

    def _appointment_fact(self, event_id: str, kind: AppointmentKind, day: date, today: date, physical: bool = True,
                          excused: bool = False) -> None:
        """An accepted appointment, for the indicators (G-B4: its date, and the day it was fixed)."""
        self.s.outbox.appointments.append(AppointmentFact(
            event_id=event_id, kind=kind, appointment_date=day, recorded_on=today, physical=physical, excused=excused))

    def _settle_if_scheduled_in_time(self, appointment_date: date, today: date) -> None:
        """G-B4: the first-appointment SLA is met by an appointment dated within the 14 days (one recorded after
        the breach withdraws it)."""
        for d in self._pending({DeadlineKind.FIRST_APPOINTMENT}):
            if appointment_date <= d.due:
                d.status = DeadlineStatus.MET
                d.closed_on = appointment_date
                self._touch(d)
        self._withdraw_breaches(DeadlineKind.FIRST_APPOINTMENT, appointment_date, today)

    # ------------------------------------------------------------------ platform phase (T10–T12)

    def on_diagnostic(self, msg: DiagnosticCompleted, today: date) -> None:
        _stage_in(self.s.stage, {Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER}, "Diagnostic")
        self.s.diagnostic_completed_on = msg.completed_on

    def check_preconisation(self, msg: PreconisationSubmitted, today: date) -> None:
        _stage_in(self.s.stage, {Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER}, "Préconisation")
        _not_future(msg.submitted_on, today, "Préconisation date")
        if self.s.diagnostic_completed_on is None:
            raise PathwayRuleError("PRECONISATION_WITHOUT_DIAGNOSTIC", "R3: the platform proposes an orientation after the diagnostic [002:351-355]")
        if not self.s.first_cer_signed:
            raise PathwayRuleError("PRECONISATION_WITHOUT_FIRST_CER", "R11: the first CER is signed with the platform before the préconisation [000:183-186]")
        if msg.target is OrientationTarget.PLATFORM:
            raise PathwayRuleError("PRECONISATION_TARGET_PLATFORM", "A préconisation names the accompanying structure, not the platform")

    def submit_preconisation(self, msg: PreconisationSubmitted, today: date) -> None:
        s = self.s
        s.preconisation = msg.target
        s.preconisation_structure_id = msg.structure_id
        self._settle(DeadlineKind.FIRST_CER, msg.submitted_on, today)
        self._close_tasks(CER_TASKS, "PRECONISATION_SUBMITTED")
        self._move(Stage.AWAITING_SLAI_VALIDATION, today, "PRECONISATION_SUBMITTED")
        due = add_working_days(msg.submitted_on, self.rules.slai_validation_working_days)
        self._add_deadline(DeadlineKind.SLAI_VALIDATION, msg.submitted_on, due, self.slai)
        self._task("VALIDATE_PRECONISATION", self.slai, f"preco-{s.seq}", due, {"target": msg.target.value})

    def check_slai_decision(self, msg: SlaiPreconisationDecision, today: date) -> None:
        _stage_in(self.s.stage, {Stage.AWAITING_SLAI_VALIDATION}, "SLAI validation")
        _not_future(msg.decided_on, today, "SLAI decision date")
        if msg.target is not None and msg.target is not self.s.preconisation and not msg.structure_id:
            raise PathwayRuleError("SLAI_NEW_TARGET_NEEDS_STRUCTURE", "T12: changing the target needs the new structure id")
        if msg.target is OrientationTarget.PLATFORM:
            raise PathwayRuleError("PRECONISATION_TARGET_PLATFORM", "The SLAI designates a referent, not the platform")

    def slai_decide(self, msg: SlaiPreconisationDecision, today: date) -> None:
        s = self.s
        target = msg.target or s.preconisation
        assert target is not None
        structure = msg.structure_id if (msg.target is not None and msg.structure_id) else s.preconisation_structure_id
        self._settle(DeadlineKind.SLAI_VALIDATION, msg.decided_on, today)
        self._close_tasks(frozenset({"VALIDATE_PRECONISATION", "ESCALATION_SLAI_VALIDATION"}), "PRECONISATION_DECIDED")
        cause = "PRECONISATION_VALIDATED" if target is s.preconisation else "PRECONISATION_TARGET_CHANGED"
        self._decided(DecisionKind.PRECONISATION, cause.removeprefix("PRECONISATION_"))
        self._designate(Referent(type=target, structure_id=structure or "", designated_on=msg.decided_on), today, cause)

    def _designate(self, ref: Referent, today: date, cause: str) -> None:
        """A referent is designated (T11, T19, T6): new CER clock of 2 months (G-B6); CAF → first interview (T13)."""
        self.s.referent = ref
        self.s.referent_designated = True
        self.s.cer = None
        self._close_tasks(frozenset({"REORIENTATION_LABEL_LOST"}), "REFERENT_DESIGNATED")
        self._cancel(CER_CLOCKS, today)
        self._move(Stage.REFERENT_DESIGNATED, today, cause)
        self._add_deadline(DeadlineKind.REFERENT_CER, ref.designated_on,
                           service_deadline(ref.designated_on, months=self.rules.referent_cer_months),
                           self._structure_assignee(ref))
        if ref.type is OrientationTarget.CAF:
            self._move(Stage.CAF_FIRST_INTERVIEW, today, "CAF_REFERENT")

    # ------------------------------------------------------------------ CER (T15–T17)

    def check_sign_cer(self, msg: SignCer, today: date) -> None:
        s = self.s
        _stage_in(s.stage, CER_SIGNING_STAGES, "Signing a CER")
        _not_future(msg.signed_on, today, "CER signature date")
        if s.stage is Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER and s.first_cer_signed:
            raise PathwayRuleError("FIRST_CER_ALREADY_SIGNED", "The platform signs one first CER [002:351-355]")
        holder = s.platform if s.stage is Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER else s.referent
        if holder is None:
            raise PathwayRuleError("CER_WITHOUT_REFERENT", "A CER needs a designated referent (R1) [000:165]")
        if msg.end < msg.start:
            raise PathwayRuleError("CER_END_BEFORE_START", "The CER ends before it starts")
        self._check_cer_length(msg.start, msg.end)
        if msg.start < holder.designated_on:
            raise PathwayRuleError(
                "CER_BEFORE_REFERENT",
                f"R1: a CER cannot start ({msg.start.isoformat()}) before the referent was designated "
                f"({holder.designated_on.isoformat()}) [000:165]",
            )
        if s.gesica_at_cer:
            validate_gesica_cer(msg.gesica_domain, msg.gesica_objectives, required=holder.type is OrientationTarget.CAF)
        if msg.type is CerType.SOCIOPROFESSIONNEL:
            if len(msg.actions) < self.rules.socio_pro_min_actions:
                raise PathwayRuleError(
                    "CER_SOCIOPRO_MIN_ACTIONS",
                    f"R23: a socio-professional CER has at least {self.rules.socio_pro_min_actions} actions "
                    f"[001:235][002:493]; got {len(msg.actions)}",
                )
            if not any(a.professional_insertion for a in msg.actions):
                raise PathwayRuleError(
                    "CER_SOCIOPRO_PROFESSIONAL_ACTION",
                    "R23: a socio-professional CER has at least one professional-insertion action [001:235][002:493]",
                )
        elif len(msg.actions) < self.rules.solidarite_min_actions:
            raise PathwayRuleError(
                "CER_MIN_ACTIONS", f"A CER has at least {self.rules.solidarite_min_actions} action [001:233]"
            )

    def sign_cer(self, msg: SignCer, today: date) -> None:
        s = self.s
        platform_phase = s.stage is Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER
        holder = s.platform if platform_phase else s.referent
        assert holder is not None
        cer = Cer(
            cer_id=msg.cer_id, type=msg.type, start=msg.start, end=msg.end, signed_on=msg.signed_on,
            action_count=len(msg.actions), renewal=s.cer_count > 0, structure_id=holder.structure_id,
            referent_type=holder.type, gesica_domain=msg.gesica_domain, gesica_objectives=list(msg.gesica_objectives),
        )
        s.cer_count += 1
        s.outbox.cers.append(cer.model_copy())
        self._push("CER", msg.cer_id, {
            "cer_id": cer.cer_id, "type": cer.type.value, "start": cer.start.isoformat(), "end": cer.end.isoformat(),
            "structure_id": cer.structure_id, "renewal": cer.renewal, "actions": cer.action_count,
            "signed_on": cer.signed_on.isoformat(),
        })
        if platform_phase:
            s.first_cer_signed = True  # the platform's first CER; the phase clock ends with the préconisation
            return
        s.cer = cer
        self._settle(DeadlineKind.FIRST_CER, msg.signed_on, today)
        self._settle(DeadlineKind.REFERENT_CER, msg.signed_on, today)
        self._close_tasks(CER_TASKS, "CER_SIGNED")
        self._move(Stage.CER_ACTIVE, today, "CER_SIGNED")
        reminder = add_days(msg.end, -self.rules.bilan_reminder_days)
        owner = self._structure_assignee(s.referent)
        if reminder > today:
            self._add_deadline(DeadlineKind.BILAN_REMINDER, msg.signed_on, reminder, owner)
        self._add_deadline(DeadlineKind.CER_END, msg.start, msg.end, owner)

    def _check_cer_length(self, start: date, end: date) -> None:
        limit = add_months(start, self.rules.cer_max_months)
        if end > limit:
            raise PathwayRuleError(
                "CER_MAX_DURATION",
                f"R13: a CER lasts at most {self.rules.cer_max_months} months [000:181]; starting "
                f"{start.isoformat()} it must end by {limit.isoformat()}, not {end.isoformat()}",
            )

    def check_amend_cer(self, msg: AmendCer, today: date) -> None:
        s = self.s
        _stage_in(s.stage, {Stage.CER_ACTIVE}, "Amending a CER")
        _not_future(msg.amended_on, today, "Amendment date")
        cer = s.cer
        if cer is None or cer.cer_id != msg.cer_id:
            raise PathwayRuleError("CER_NOT_ACTIVE", f"CER {msg.cer_id} is not the active CER")
        if msg.amended_on < cer.signed_on:
            raise PathwayRuleError("CER_AMENDED_BEFORE_SIGNATURE", "An amendment cannot precede the CER's signature")
        self._check_cer_length(cer.start, msg.new_end)
        if msg.new_end < max(cer.start, msg.amended_on):
            raise PathwayRuleError("CER_AMENDED_END_PASSED", "An amendment cannot end the CER before its own date")

    def amend_cer(self, msg: AmendCer, today: date) -> None:
        """The CER's end and its clocks (CER end, bilan reminder) move to the amended end."""
        s = self.s
        assert s.cer is not None
        s.cer.end = msg.new_end
        s.outbox.cers.append(s.cer.model_copy())
        reminder = add_days(msg.new_end, -self.rules.bilan_reminder_days)
        for d in self._pending({DeadlineKind.CER_END}):
            d.due = msg.new_end
            self._touch(d)
        self._cancel({DeadlineKind.BILAN_REMINDER}, today)
        if reminder > today:
            self._add_deadline(DeadlineKind.BILAN_REMINDER, msg.amended_on, reminder, self._structure_assignee(s.referent))
        self._note(today, "CER_AMENDED")

    # ------------------------------------------------------------------ bilan (T17, T18)

    def check_bilan(self, msg: CompleteBilan, today: date) -> None:
        s = self.s
        _stage_in(s.stage, {Stage.BILAN}, "Bilan")
        _not_future(msg.completed_on, today, "Bilan date")
        caf = s.referent is not None and s.referent.type is OrientationTarget.CAF
        validate_gesica_bilan(msg.global_outcome, msg.domain_outcomes, required=caf)
        if msg.decision is BilanDecision.REORIENT:
            if msg.reorientation_reason is None:
                raise PathwayRuleError("BILAN_REORIENTATION_REASON_REQUIRED", "A reorientation needs one of the reasons of §3.5 [000:228-234]")
            self._check_reason(msg.reorientation_reason, msg.justification, at_cer_end=True, exit_=False)

    def complete_bilan(self, msg: CompleteBilan, today: date) -> None:
        s = self.s
        self._decided(DecisionKind.BILAN, msg.decision.value)
        self._settle(DeadlineKind.BILAN, msg.completed_on, today)
        self._close_tasks(BILAN_TASKS, "BILAN_COMPLETED")
        cer = s.cer
        data: dict = {"decision": msg.decision.value, "completed_on": msg.completed_on.isoformat(),
                      "global_outcome": msg.global_outcome,
                      "domain_outcomes": [o.model_dump() for o in msg.domain_outcomes]}
        if cer is not None:
            data["cer_id"] = cer.cer_id
            data["physical_appointments"] = cer.physical_appointments
            if cer.referent_type is OrientationTarget.CAF:
                # T16 / G-B12: a compliance indicator only, reported at CER end
                data["caf_min_physical_appointments_met"] = (
                    cer.physical_appointments >= self.rules.caf_physical_appointments_per_cer
                )
        data["ref"] = f"bilan-{cer.cer_id}" if cer else f"bilan-{s.seq}"
        self._push("BILAN", cer.cer_id if cer else f"bilan-{s.seq}", data)
        s.cer = None
        if msg.decision is BilanDecision.CONTINUE:
            self._move(Stage.CER_DRAFTING, today, "BILAN_CONTINUE")
            ref = s.referent
            self._add_deadline(DeadlineKind.REFERENT_CER, msg.completed_on,
                               service_deadline(msg.completed_on, months=self.rules.referent_cer_months),
                               self._structure_assignee(ref))
            s.cycle_completed = True
        elif msg.decision is BilanDecision.REORIENT:
            assert msg.reorientation_reason is not None
            s.held_stages.append(Stage.CER_DRAFTING)
            self._open_reorientation(msg.reorientation_reason, False, today, "BILAN_REORIENT")
        else:
            self._close(msg.exit_reason or ExitReason.FIN_ACCOMPAGNEMENT, today)

    # ------------------------------------------------------------------ reorientation (T14, T19, §3.5)

    def _at_cer_end(self, on: date) -> bool:
        s = self.s
        if s.stage is Stage.BILAN:
            return True
        return s.stage is Stage.CER_ACTIVE and s.cer is not None and on >= s.cer.end

    def _check_reason(self, reason: ReorientationReason, justification: str | None, *, at_cer_end: bool, exit_: bool) -> None:
        if reason in SAME_SPHERE_REASONS and not at_cer_end:
            end = self.s.cer.end.isoformat() if self.s.cer else "its end"
            raise PathwayRuleError(
                "REORIENTATION_SAME_SPHERE_ONLY_AT_CER_END",
                f"§3.5: a same-sphere reorientation for {reason.value} is only possible at the end of the CER "
                f"[000:228-232]; the CER runs until {end}",
            )
        if reason is ReorientationReason.AUTRE and not (justification or "").strip():
            raise PathwayRuleError("REORIENTATION_AUTRE_JUSTIFICATION", "§3.5: « autre motif » needs a written justification (G-B16)")
        if reason is ReorientationReason.HORS_COMPETENCE_CAF and self.s.stage is not Stage.CAF_FIRST_INTERVIEW:
            raise PathwayRuleError(
                "REORIENTATION_CAF_COMPETENCE_BEFORE_CER",
                "§3.2: « hors compétence CAF » is decided at the CAF first interview, before the CER [000:214]",
            )
        if reason is ReorientationReason.SITUATION_PERSONNELLE:
            raise PathwayRuleError(
                "REORIENTATION_PERSONAL_VIA_REVIEW",
                "§3.5: « prise en compte de la situation personnelle » goes through a personal-situation review [000:236]",
            )
        if exit_ and reason not in ANY_TIME_REASONS:
            raise PathwayRuleError(
                "EXIT_REASON_NOT_ALLOWED", "§3.5: an exit on request is for « reprise de vie maritale ou autre motif » [000:234]"
            )

    def check_reorientation(self, msg: RequestReorientation, today: date) -> None:
        _stage_in(self.s.stage, REFERENT_STAGES, "A reorientation request")
        _not_future(msg.requested_on, today, "Request date")
        self._check_reason(msg.reason, msg.justification, at_cer_end=self._at_cer_end(msg.requested_on), exit_=msg.exit)

    def request_reorientation(self, msg: RequestReorientation, today: date) -> None:
        self.s.held_stages.append(self.s.stage)
        self._open_reorientation(msg.reason, msg.exit, today, "REORIENTATION_REQUESTED")

    def _open_reorientation(self, reason: ReorientationReason, exit_: bool, today: date, cause: str) -> None:
        self.s.reorientation_reason = reason
        self.s.reorientation_is_exit = exit_
        self._move(Stage.REORIENTATION_REQUESTED, today, cause)
        self._task("DECIDE_REORIENTATION", self.slai, f"reo-{self.s.seq}", None,
                   {"reason": reason.value, "exit": str(exit_).lower()})

    def check_reorientation_decision(self, msg: DecideReorientation, today: date) -> None:
        _stage_in(self.s.stage, {Stage.REORIENTATION_REQUESTED}, "A reorientation decision")
        _not_future(msg.decided_on, today, "Decision date")
        if msg.approved and not self.s.reorientation_is_exit and (msg.target is None or not msg.structure_id):
            raise PathwayRuleError("REORIENTATION_TARGET_REQUIRED", "An approved reorientation names the new target and structure")

    def decide_reorientation(self, msg: DecideReorientation, today: date) -> None:
        s = self.s
        reason = s.reorientation_reason
        self._close_tasks(frozenset({"DECIDE_REORIENTATION"}), "REORIENTATION_DECIDED")
        self._decided(DecisionKind.REORIENTATION,
                      "REFUSED" if not msg.approved else "EXIT" if s.reorientation_is_exit else "APPROVED")
        if not msg.approved:
            self._release(today, "REORIENTATION_REFUSED")
        elif s.reorientation_is_exit:
            s.held_stages.clear()
            self._close(ExitReason.REPRISE_VIE_MARITALE if reason is ReorientationReason.REPRISE_VIE_MARITALE else ExitReason.AUTRE, today)
        else:
            assert msg.target is not None and msg.structure_id
            s.held_stages.pop() if s.held_stages else None
            self._designate(Referent(type=msg.target, structure_id=msg.structure_id, designated_on=msg.decided_on), today,
                            "REORIENTED")
        s.reorientation_reason = None
        s.reorientation_is_exit = False

    # ------------------------------------------------------------------ personal-situation review (T21)

    def check_personal_review(self, msg: PersonalReviewRequest, today: date) -> None:
        _stage_in(self.s.stage, REFERENT_STAGES, "A personal-situation review")
        _not_future(msg.requested_on, today, "Request date")

    def request_personal_review(self, msg: PersonalReviewRequest, today: date) -> None:
        s = self.s
        s.personal_review_requested_on = msg.requested_on
        self._pause(PAUSE_REVIEW, today)
        self._hold(Stage.PERSONAL_SITUATION_REVIEW, today, "PERSONAL_REVIEW_REQUESTED")
        due = service_deadline(msg.requested_on, months=self.rules.personal_situation_review_months)
        self._add_deadline(DeadlineKind.PERSONAL_REVIEW, msg.requested_on, due, self.slai)
        self._task("DECIDE_PERSONAL_REVIEW", self.slai, f"review-{s.seq}", due)

    def check_personal_review_decision(self, msg: PersonalReviewDecision, today: date) -> None:
        _stage_in(self.s.stage, {Stage.PERSONAL_SITUATION_REVIEW}, "A personal-review decision")
        _not_future(msg.decided_on, today, "Decision date")

    def decide_personal_review(self, msg: PersonalReviewDecision, today: date) -> None:
        self._decided(DecisionKind.PERSONAL_REVIEW, msg.outcome.value)
        self._settle(DeadlineKind.PERSONAL_REVIEW, msg.decided_on, today)
        self._close_tasks(frozenset({"DECIDE_PERSONAL_REVIEW", "ESCALATION_PERSONAL_REVIEW"}), "PERSONAL_REVIEW_DECIDED")
        self._resume(PAUSE_REVIEW, today)
        self.s.personal_review_requested_on = None
        if msg.outcome is PersonalReviewOutcome.RESUME:
            self._release(today, "PERSONAL_REVIEW_RESUME")
        else:
            self._open_reorientation(ReorientationReason.SITUATION_PERSONNELLE, False, today, "PERSONAL_REVIEW_REORIENT")

    # ------------------------------------------------------------------ non-compliance (T20)

    def _propose_ep(self, kind: NonComplianceKind, today: date) -> None:
        if self.s.ep is not None:
            return
        self.s.ep = EpReferral(kind=kind.value, proposed_on=today)
        self._task("CONFIRM_EP_REFERRAL", self._structure_assignee(self.accompanying), f"ep-{self.s.seq}", None,
                   {"kind": kind.value})

    def on_non_compliance(self, msg: NonComplianceReport, today: date) -> None:
        allowed = (REFERENT_STAGES | {Stage.PLATFORM_FIRST_APPOINTMENT, Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER,
                                      Stage.AWAITING_ORIENTATION, Stage.ORIENTED_TO_PLATFORM})
        _stage_in(self.s.stage, allowed, "A non-compliance report")
        self._propose_ep(msg.kind, today)

    def check_ep_confirmation(self, msg: EpReferralConfirmation, today: date) -> None:
        if self.s.ep is None or self.s.ep.confirmed:
            raise PathwayRuleError("EP_NO_PROPOSAL", "No EP referral is awaiting confirmation")
        if self.s.stage in EXIT_STAGES or self.s.stage is Stage.NOT_SUBJECT:
            raise PathwayRuleError("STAGE_NOT_ALLOWED", f"EP referral not possible in stage {self.s.stage.value}")

    def confirm_ep(self, msg: EpReferralConfirmation, today: date) -> None:
        s = self.s
        assert s.ep is not None
        self._decided(DecisionKind.EP_REFERRAL, "CONFIRMED" if msg.confirmed else "DROPPED")
        self._close_tasks(frozenset({"CONFIRM_EP_REFERRAL"}), "EP_REFERRAL_" + ("CONFIRMED" if msg.confirmed else "DROPPED"))
        if not msg.confirmed:
            s.ep = None
            return
        s.ep.confirmed = True
        self._hold(Stage.NON_COMPLIANCE_EP, today, "EP_REFERRAL_CONFIRMED")
        self._task("EP_REFERRAL", assignee.ep(s.territory), f"ep-{s.seq}", None, {"kind": s.ep.kind})

    def on_ep_decision(self, msg: EpDecision, today: date) -> None:
        s = self.s
        _stage_in(s.stage, {Stage.NON_COMPLIANCE_EP, Stage.SANCTION_PROCEDURE}, "An EP decision")
        if msg.outcome in SANCTION_OUTCOMES:
            _not_future(msg.decided_on, today, "Sanction date")
            self._check_sanction(msg)
        elif msg.share_percent is not None or msg.months is not None:
            raise PathwayRuleError("EP_SANCTION_TERMS", f"{msg.outcome.value} carries no reduction share nor duration")
        self._decided(DecisionKind.EP, msg.outcome.value)
        self._close_tasks(frozenset({"EP_REFERRAL"}), "EP_DECIDED")
        if msg.outcome in SANCTION_OUTCOMES:
            self._record_sanction(msg, today)
        if msg.outcome in (EpOutcome.MAINTAIN, EpOutcome.REDUCTION, EpOutcome.SUSPENSION):
            s.ep = None
            if s.cer is not None:
                s.cer.missed_unexcused = 0
            self._release(today, f"EP_{msg.outcome.value}")
        elif msg.outcome is EpOutcome.SANCTION_PROCEDURE:
            self._move(Stage.SANCTION_PROCEDURE, today, "EP_SANCTION_PROCEDURE")
        else:  # EXIT, RADIATION: the exit for non-respect des obligations, pushed to MonJob62 (R15 [000:273])
            s.held_stages.clear()
            self._close(ExitReason.NON_RESPECT_OBLIGATIONS, today)

    @staticmethod
    def _check_sanction(msg: EpDecision) -> None:
        if msg.outcome is EpOutcome.RADIATION:
            if msg.share_percent is not None or msg.months is not None:
                raise PathwayRuleError("EP_SANCTION_TERMS", "A radiation carries no reduction share nor duration")
            return
        if msg.months is None:
            raise PathwayRuleError("EP_SANCTION_TERMS", f"A {msg.outcome.value.lower()} needs its duration in months")
        if msg.outcome is EpOutcome.REDUCTION and (msg.share_percent is None or msg.share_percent >= 100):
            raise PathwayRuleError("EP_SANCTION_TERMS", "A reduction needs its share, below 100 % (100 % is a suspension)")

    def _record_sanction(self, msg: EpDecision, today: date) -> None:
        """G-B14: recorded and sent as a task to the Département's RSA service, which has the CAF apply it; the
        system never changes rights itself."""
        s = self.s
        sanction = Sanction(outcome=msg.outcome, decided_on=msg.decided_on, share_percent=msg.share_percent,
                            months=msg.months, recorded_on=today)
        s.sanctions.append(sanction)
        if len(s.sanctions) > MAX_SANCTIONS:
            del s.sanctions[: len(s.sanctions) - MAX_SANCTIONS]
        details = {"outcome": msg.outcome.value, "decided_on": msg.decided_on.isoformat()}
        if msg.share_percent is not None:
            details["share_percent"] = str(msg.share_percent)
        if msg.months is not None:
            details["months"] = str(msg.months)
        self._task("APPLY_RSA_SANCTION", SANCTION_SERVICE, f"sanction-{s.seq}", None, details)

    # ------------------------------------------------------------------ leaving RSA (T22, T23, T25)

    def on_left_rsa(self, msg: LeftRsa, today: date) -> None:
        s = self.s
        if s.stage in EXIT_STAGES or s.finished:
            raise PathwayRuleError("ALREADY_LEFT", "The person has already left RSA")
        s.exit = ExitInfo(end_of_payment=msg.end_of_payment_date, reason=msg.reason, noticed_on=today)
        self._pause(PAUSE_EXIT, today, keep=EXIT_KINDS)
        s.held_stages.append(s.stage)
        window_end = service_deadline(msg.end_of_payment_date, months=self.rules.post_exit_months)
        if self.accompanying is None:
            self._close(ExitReason.SORTIE_RSA, today, reentry_until=window_end)
            return
        self._move(Stage.EXIT_CHOICE_PENDING, today, "LEFT_RSA")
        due = service_deadline(today, days=self.rules.post_exit_choice_days)
        owner = self._structure_assignee(self.accompanying)
        self._add_deadline(DeadlineKind.EXIT_CHOICE, today, due, owner)
        self._task("CHOOSE_AFTER_EXIT", owner, f"exit-{s.seq}", due, {"end_of_payment": msg.end_of_payment_date.isoformat()})

    def check_exit_choice(self, msg: PostExitChoice, today: date) -> None:
        _stage_in(self.s.stage, {Stage.EXIT_CHOICE_PENDING}, "The post-exit choice")
        _not_future(msg.decided_on, today, "Choice date")

    def choose_after_exit(self, msg: PostExitChoice, today: date) -> None:
        s = self.s
        assert s.exit is not None
        self._decided(DecisionKind.POST_EXIT, "CONTINUE" if msg.continue_accompaniment else "CLOSE")
        s.exit.continue_accompaniment = msg.continue_accompaniment
        self._settle(DeadlineKind.EXIT_CHOICE, msg.decided_on, today)
        self._close_tasks(frozenset({"CHOOSE_AFTER_EXIT"}), "EXIT_CHOICE_RECEIVED")
        window_end = service_deadline(s.exit.end_of_payment, months=self.rules.post_exit_months)
        if msg.continue_accompaniment and window_end >= today:
            self._move(Stage.POST_EXIT_ACCOMPANIMENT, today, "POST_EXIT_CONTINUE")
            self._add_deadline(DeadlineKind.POST_EXIT_END, s.exit.end_of_payment, window_end,
                               self._structure_assignee(self.accompanying))
        else:
            self._close(ExitReason.SORTIE_RSA, today, reentry_until=window_end)

    def _reenter(self, today: date) -> None:
        """T25: back on RSA within the window: same referent (référent unique), clocks resumed."""
        s = self.s
        self._cancel(EXIT_KINDS, today)
        self._close_tasks(frozenset({"CHOOSE_AFTER_EXIT"}), "RSA_REENTRY")
        self._resume(PAUSE_EXIT, today)
        s.exit = None
        s.exit_reason = None
        s.closed_on = None
        self._release(today, "RSA_REENTRY")

    def _close(self, reason: ExitReason, today: date, *, reentry_until: date | None = None) -> None:
        s = self.s
        s.exit_reason = reason
        s.closed_on = today
        self._push("EXIT", f"{s.seq}", {"ref": f"exit-{s.seq}", "reason": reason.value, "closed_on": today.isoformat(),
                                         "structure_id": self.accompanying.structure_id if self.accompanying else None})
        self._move(Stage.CLOSED, today, f"EXIT_{reason.value}")
        if reentry_until is not None and reentry_until >= today:
            self._add_deadline(DeadlineKind.REENTRY_WINDOW, today, reentry_until, self.slai)
        else:
            self._finish(today)

    def _finish(self, today: date) -> None:
        self._cancel(frozenset(DeadlineKind), today)
        self._close_tasks(None, "PATHWAY_CLOSED", TaskStatus.CANCELLED)
        self.s.finished = True

    # ------------------------------------------------------------------ CAF route (T6, T13, T14; §3.2–§3.3)

    def check_caf_saisine(self, msg: CafSaisine, today: date) -> None:
        _stage_in(self.s.stage, PRE_REFERENT_STAGES, "A CAF saisine")
        _not_future(msg.requested_on, today, "Saisine date")
        check_caf_saisine(msg, self.rules)

    def caf_saisine(self, msg: CafSaisine, today: date) -> None:
        s = self.s
        s.caf_saisine_mode = msg.mode.value
        s.caf_structure_id = msg.caf_structure_id
        s.rsa_majore = True
        self._hold(Stage.CAF_SAISINE, today, f"CAF_SAISINE_{msg.mode.value}")
        self._task("VALIDATE_CAF_SAISINE", self.slai, f"caf-{s.seq}", None, {"mode": msg.mode.value})

    def check_caf_saisine_decision(self, msg: CafSaisineDecision, today: date) -> None:
        _stage_in(self.s.stage, {Stage.CAF_SAISINE}, "A CAF saisine decision")
        _not_future(msg.decided_on, today, "Decision date")

    def decide_caf_saisine(self, msg: CafSaisineDecision, today: date) -> None:
        s = self.s
        self._decided(DecisionKind.CAF_SAISINE, "ACCEPTED" if msg.accepted else "REFUSED")
        self._close_tasks(frozenset({"VALIDATE_CAF_SAISINE"}), "CAF_SAISINE_DECIDED")
        if not msg.accepted:
            s.caf_saisine_mode = None
            self._release(today, "CAF_SAISINE_REFUSED")
            return
        s.held_stages.pop() if s.held_stages else None
        self._settle(DeadlineKind.ORIENTATION, msg.decided_on, today)
        # the CAF social worker makes the diagnostic, not the platform [000:204]
        self._cancel(PLATFORM_CLOCKS | {DeadlineKind.ORIENTATION_REMINDER}, today)
        self._close_tasks(ORIENTATION_TASKS | APPOINTMENT_TASKS, "ORIENTATION_RECORDED")
        self._designate(Referent(type=OrientationTarget.CAF, structure_id=s.caf_structure_id or "",
                                 designated_on=msg.decided_on), today, "CAF_SAISINE_ACCEPTED")

    def check_caf_interview(self, msg: CafFirstInterview, today: date) -> None:
        _stage_in(self.s.stage, {Stage.CAF_FIRST_INTERVIEW}, "The CAF first interview")
        _not_future(msg.held_on, today, "Interview date")

    def caf_first_interview(self, msg: CafFirstInterview, today: date) -> None:
        self._appointment_fact(msg.event_id, AppointmentKind.HELD, msg.held_on, today)
        self._decided(DecisionKind.CAF_FIRST_INTERVIEW,
                      "WITHIN_COMPETENCE" if msg.within_caf_competence else "OUTSIDE_COMPETENCE")
        if msg.within_caf_competence:
            self._move(Stage.CER_DRAFTING, today, "CAF_FIRST_INTERVIEW_HELD")
        else:
            self.s.held_stages.append(self.s.stage)
            self._open_reorientation(ReorientationReason.HORS_COMPETENCE_CAF, False, today, "CAF_NOT_COMPETENT")

    # ------------------------------------------------------------------ flow facts without a stage (issue 5)

    def on_payment_suspended(self, msg: PaymentSuspended, today: date) -> None:
        """Recorded, nothing else: the duties go on while the payment is suspended."""
        reasons = sorted(set(msg.reasons))
        unknown = [r for r in reasons if r not in MOTISUSVERSRSA]
        if unknown:
            raise PathwayRuleError("PAYMENT_SUSPENSION_UNKNOWN_REASON", f"MOTISUSVERSRSA code(s) {', '.join(unknown)} unknown")
        self.s.payment_suspension = PaymentSuspensionInfo(reasons=reasons, since=msg.since,
                                                          right_questioned=msg.right_questioned, noticed_on=today)
        self._note(today, "PAYMENT_SUSPENDED:" + ("+".join(reasons) or "NO_REASON"))

    def on_payment_resumed(self, msg: PaymentResumed, today: date) -> None:
        if self.s.payment_suspension is None:
            raise PathwayRuleError("PAYMENT_NOT_SUSPENDED", "The payment is not suspended")
        self.s.payment_suspension = None
        self._note(today, "PAYMENT_RESUMED")

    def on_not_subject_confirmed(self, msg: NotSubjectConfirmed, today: date) -> None:
        """G-B8: the clocks paused on the first "non soumis" flow; once confirmed by consecutive flows, the
        accompanying structure (or the SLAI) decides whether to end the accompaniment — never the system."""
        s = self.s
        if s.stage is not Stage.NOT_SUBJECT:
            raise PathwayRuleError("NOT_SUBJECT_CONFIRMATION_STALE", f"the person is subject again (stage {s.stage.value})")
        if s.not_subject_confirmed_since is not None:
            return
        s.not_subject_confirmed_since = msg.since
        self._note(today, "NOT_SUBJECT_CONFIRMED")
        self._task("REVIEW_NOT_SUBJECT", self._structure_assignee(self.accompanying), f"not-subject-{s.seq}", None,
                   {"since": msg.since.isoformat(), "flows": str(msg.flows)})

    # ------------------------------------------------------------------ household (G-B20)

    def on_household_member(self, msg: HouseholdMemberChanged, today: date) -> None:
        """Another person of the same file entered, left, or was there: kept on this case by pathway id (one
        pathway per person, linked by household, G-B20); an entry or exit is a line in the stage history."""
        s = self.s
        if msg.member_pathway_id == self.workflow_id:
            raise PathwayRuleError("HOUSEHOLD_SELF", "a person is not their own household member")
        known = next((m for m in s.household if m.pathway_id == msg.member_pathway_id), None)
        if known is not None and msg.on < known.since:
            return  # an older fact than the one kept
        if known is None:
            known = HouseholdMember(pathway_id=msg.member_pathway_id, status=msg.change, since=msg.on)
            s.household.append(known)
            if len(s.household) > MAX_HOUSEHOLD:
                del s.household[: len(s.household) - MAX_HOUSEHOLD]
        known.status, known.since, known.role = msg.change, msg.on, msg.role or known.role
        if msg.change is not HouseholdChange.PRESENT:
            self._note(today, f"HOUSEHOLD_MEMBER_{msg.change.value}")

    # ------------------------------------------------------------------ perdus de vue (T26, R18, G-B19)

    def on_lost_from_view_convocation(self, msg: LostFromViewConvocation, today: date) -> None:
        """Record the convocation and its outcome; an unexcused absence proposes the EP referral (T20), which a
        person confirms. The orientation itself stays a decision of the services."""
        s = self.s
        _not_future(msg.convoked_on, today, "Convocation date")
        known = next((c for c in s.convocations if c.convocation_id == msg.convocation_id), None)
        if known is None:
            _stage_in(s.stage, LOST_FROM_VIEW_STAGES, "A perdus-de-vue convocation")
            known = Convocation(convocation_id=msg.convocation_id, convoked_on=msg.convoked_on)
            s.convocations.append(known)
            if len(s.convocations) > MAX_CONVOCATIONS:
                del s.convocations[: len(s.convocations) - MAX_CONVOCATIONS]
        elif (known.convoked_on, known.appointment_date, known.outcome) == (
                msg.convoked_on, msg.appointment_date, msg.outcome or known.outcome):
            return
        newly_missed = msg.outcome is ConvocationOutcome.MISSED and known.outcome is not ConvocationOutcome.MISSED
        known.convoked_on = msg.convoked_on
        known.appointment_date = msg.appointment_date
        known.outcome = msg.outcome or known.outcome
        known.version = self._bump()
        pending = s.outbox.convocations
        pending[:] = [c for c in pending if c.convocation_id != known.convocation_id]
        pending.append(known.model_copy())
        if newly_missed and s.stage not in EXIT_STAGES and s.stage is not Stage.NOT_SUBJECT:
            self._propose_ep(NonComplianceKind.UNEXCUSED_ABSENCE, today)

    # ------------------------------------------------------------------ label of the referent's structure (issue 4)

    def on_structure_label_lost(self, msg: StructureLabelLost, today: date) -> None:
        """The accompanying structure lost its label: recorded, and the SLAI gets a reorientation task. Nothing
        else changes (the referent stays until the SLAI decides). Another structure's loss is ignored."""
        s = self.s
        ref = self.accompanying
        if ref is None or ref.structure_id != msg.structure_id:
            return
        try:
            reason = LabelLossReason(msg.reason)
        except ValueError:
            raise PathwayRuleError("LABEL_LOSS_UNKNOWN_REASON", "unknown label loss reason") from None
        s.label_losses.append(LabelLoss(structure_id=msg.structure_id, reason=reason.value,
                                        effective_date=msg.effective_date, noticed_on=today))
        if len(s.label_losses) > MAX_LABEL_LOSSES:
            del s.label_losses[: len(s.label_losses) - MAX_LABEL_LOSSES]
        self._note(today, f"REFERENT_LABEL_{reason.name}")
        self._task("REORIENTATION_LABEL_LOST", self.slai, f"label-{s.seq}", None,
                   {"structure_id": msg.structure_id, "reason": reason.value,
                    "effective_date": msg.effective_date.isoformat(), "referent_type": ref.type.value})
