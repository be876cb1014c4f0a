"""Reading a pathway (view, read-model row, next deadline) and firing its due clocks (timers).
"""

from __future__ import annotations

from datetime import date, datetime, time

from domain.deadlines import add_days, PARIS, paris_date, service_deadline
from domain.pathway import (
    CerView,
    Deadline,
    DeadlineKind,
    DeadlineStatus,
    DeadlineView,
    ExitReason,
    PathwayRow,
    PathwayView,
    REMINDER_KINDS,
    SLA_KINDS,
    Stage,
)
from domain.pathway_constants import ANNOUNCED
from domain.pathway_core import PathwayCore


class PathwayReading(PathwayCore):
    """What the workflow reads between events, and what happens when a clock is due."""

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
            contract_kind=cer.contract_kind if cer else None,
            plein_emploi=s.plein_emploi.model_copy(deep=True),
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
            seq_base=s.seq_base,
        )

    def forget_settled_deadlines(self) -> None:
        """Drop closed clocks from state at a cycle boundary (they are in the read model); a fired France Travail
        clock is kept while the registration is unknown, so a registration dated in time can still meet it."""
        waiting = self.s.plein_emploi.france_travail_registered_on is None
        self.s.deadlines = [d for d in self.s.deadlines if d.status is DeadlineStatus.PENDING or (
            waiting and d.status is DeadlineStatus.FIRED and d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION)]

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
        elif d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION:
            self._france_travail_overdue(d)
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
