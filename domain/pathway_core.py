"""Bookkeeping of :class:`domain.pathway_rules.Pathway`: stage moves, pausable SLA clocks, breaches, reminders, tasks.

Every mixin of the pathway rules builds on :class:`PathwayCore`; none of them stores anything of its own.
"""

from __future__ import annotations

from datetime import date
from typing import Callable, Self

from domain import tasks as assignee
from domain.deadlines import add_days
from domain.pathway import (
    Anomaly,
    Breach,
    Deadline,
    DeadlineKind,
    DeadlineStatus,
    DecisionKind,
    DecisionTaken,
    HumanTask,
    MonJob62Push,
    OrientationTarget,
    PathwayState,
    Referent,
    Stage,
    StageChange,
)
from domain.pathway_state import BilanPush, CerPush, ExitPush
from domain.pathway_2025 import LEGACY_RULE_SET_VERSION, PleinEmploiRules
from domain.pathway_constants import (
    BREACH_WITHDRAWAL,
    CER_END_FIXED,
    CONTRACT_KINDS,
    MAX_ANOMALIES,
    MAX_OPEN_TASKS,
    MAX_SEEN_EVENT_IDS,
    MAX_STAGE_HISTORY,
    pathway_workflow_id,
    PAUSE_EXIT,
    PAUSE_NOT_SUBJECT,
    PAUSE_REVIEW,
    REFUSED_EVENT,
)
from domain.rules import rule_set, rule_set_for, RuleSet
from domain.tasks import OpenTask, TaskClosure, TaskStatus


class PathwayCore(PleinEmploiRules):
    """The state (``s``), its rule set and the primitives the transitions are written with."""

    def __init__(self, state: PathwayState, *, patched: Callable[[str], bool] = lambda change: True) -> None:
        """``patched(change)`` says whether a rule change (``CER_END_FIXED``, ``BREACH_WITHDRAWAL``, ``CER_REPLACED``)
        applies; it is asked only at the moment the change would make a difference, and the workflow answers with
        ``workflow.patched``, so a run that already behaved the old way keeps doing so (pure callers: always)."""
        self.s = state
        self.rules: RuleSet = rule_set(state.rule_set_version)
        self._patched = patched

    @classmethod
    def new(cls, person_id: str, territory: str, today: date, *, rules_by_entry_date: bool = True, seq: int = 0,
            **options: Callable[[str], bool]) -> Self:
        """A new case records the rule set in force on its first day, then the one of its entry date when the
        orientation clock starts (``rules_by_entry_date``); a pathway opened before that existed kept the 2023
        rules, the only ones then."""
        version = rule_set_for(today).version if rules_by_entry_date else LEGACY_RULE_SET_VERSION
        return cls(PathwayState(person_id=person_id, territory=territory, rule_set_version=version,
                                rules_by_entry_date=rules_by_entry_date, seq=seq, seq_base=seq), **options)

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
            escalation = self._outbox_key(f"ESCALATION_{kind.value}", b.deadline_id)
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

    def _outbox_key(self, kind: str, ref: str) -> str:
        """``<workflow id>:<kind>:<ref>``: the key of a task or a MonJob62 push, stable across retries and runs."""
        return f"{self.workflow_id}:{kind}:{ref}"

    def _task(self, kind: str, assignee: str, ref: str, due: date | None, details: dict[str, str] | None = None) -> None:
        key = self._outbox_key(kind, ref)
        self.s.outbox.tasks.append(HumanTask(task_key=key, kind=kind, assignee=assignee, due_date=due, details=details or {}))
        if self.s.closes_tasks and all(t.task_key != key for t in self.s.open_tasks):
            self.s.open_tasks.append(OpenTask(task_key=key, kind=kind))
            if len(self.s.open_tasks) > MAX_OPEN_TASKS:
                del self.s.open_tasks[: len(self.s.open_tasks) - MAX_OPEN_TASKS]

    def _close_tasks(self, kinds: frozenset[str] | None, reason: str, status: TaskStatus = TaskStatus.DONE, *,
                     keep: frozenset[str] = frozenset()) -> None:
        """The event the open tasks of ``kinds`` (None: all but ``keep``) waited for arrived, or made them moot:
        the workflow closes them."""
        closing = [t for t in self.s.open_tasks if (kinds is None or t.kind in kinds) and t.kind not in keep]
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

    def _push(self, kind: str, ref: str, data: CerPush | BilanPush | ExitPush) -> None:
        self.s.outbox.pushes.append(MonJob62Push(kind=kind, idempotency_key=self._outbox_key(kind, ref), data=data))

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
