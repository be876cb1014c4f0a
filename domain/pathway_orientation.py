"""Entry and orientation transitions (T1–T12): flow records, orientation, appointments, platform phase.
"""

from __future__ import annotations

from datetime import date

from domain.deadlines import service_deadline
from domain.pathway import (
    AppointmentEvent,
    AppointmentFact,
    AppointmentKind,
    DeadlineKind,
    DeadlineStatus,
    DecisionKind,
    DiagnosticCompleted,
    EXIT_STAGES,
    FlowRecord,
    NonComplianceKind,
    OrientationDecision,
    OrientationTarget,
    PathwayRuleError,
    PreconisationSubmitted,
    Referent,
    SlaiPreconisationDecision,
    Stage,
)
from domain.pathway_constants import (
    _not_future,
    _stage_in,
    add_working_days,
    APPOINTMENT_TASKS,
    BILAN_TASKS,
    CER_CLOCKS,
    CER_TASKS,
    ORIENTATION_TASKS,
    PAUSE_NOT_SUBJECT,
)
from domain.pathway_core import PathwayCore
from domain.rules import check_plausible_date
from domain.tasks import TaskStatus


class PathwayOrientation(PathwayCore):
    """From the first flow record to the designation of a referent."""

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
        self._rules_at_entry(transmission_date, today)
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
        # what was asked of the former structure (first appointment, CER, bilan) is moot with a new referent
        self._close_tasks(APPOINTMENT_TASKS | CER_TASKS | BILAN_TASKS, "REFERENT_CHANGED", TaskStatus.CANCELLED)
        self._cancel(CER_CLOCKS, today)
        self._move(Stage.REFERENT_DESIGNATED, today, cause)
        self._add_deadline(DeadlineKind.REFERENT_CER, ref.designated_on,
                           service_deadline(ref.designated_on, months=self.rules.referent_cer_months),
                           self._structure_assignee(ref))
        if ref.type is OrientationTarget.CAF:
            self._move(Stage.CAF_FIRST_INTERVIEW, today, "CAF_REFERENT")
