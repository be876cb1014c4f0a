"""CER transitions (T15–T18): signing, amending, and the bilan at its end.
"""

from __future__ import annotations

from datetime import date

from domain.deadlines import add_days, add_months, service_deadline
from domain.pathway import (
    AmendCer,
    BilanDecision,
    Cer,
    CerType,
    CompleteBilan,
    DeadlineKind,
    DecisionKind,
    ExitReason,
    OrientationTarget,
    PathwayRuleError,
    SignCer,
    Stage,
)
from domain.pathway_state import BilanPush, CerPush
from domain.pathway_caf import validate_gesica_bilan, validate_gesica_cer
from domain.pathway_constants import _not_future, _stage_in, BILAN_TASKS, CER_REPLACED, CER_SIGNING_STAGES, CER_TASKS
from domain.pathway_core import PathwayCore
from domain.plein_emploi import SignContratEngagement
from domain.rules import ContractKind


class PathwayCer(PathwayCore):
    """The contract (CER) and its bilan."""

    # ------------------------------------------------------------------ CER (T15–T17)

    def check_sign_cer(self, msg: SignCer, today: date) -> None:
        s = self.s
        if self.rules.contract_kind is ContractKind.CONTRAT_ENGAGEMENT and not isinstance(msg, SignContratEngagement) \
                and self._patched(CER_REPLACED):
            raise PathwayRuleError(
                "CER_REPLACED_BY_CONTRAT_ENGAGEMENT",
                f"§8.3: under rule set {self.rules.version} the contrat d'engagement replaces the CER: sign it with "
                "sign_contrat_engagement (POST /v1/pathways/{pathway_id}/contrat-engagement), with its weekly hours")
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
            contract_kind=self.rules.contract_kind,
        )
        if isinstance(msg, SignContratEngagement):
            cer.weekly_hours, cer.hours_reason = msg.weekly_hours, msg.hours_reason
        s.cer_count += 1
        s.outbox.cers.append(cer.model_copy())
        self._push("CER", msg.cer_id, CerPush(
            person_id=s.person_id, cer_id=cer.cer_id, type=cer.type, start=cer.start, end=cer.end,
            structure_id=cer.structure_id, renewal=cer.renewal, actions=cer.action_count, signed_on=cer.signed_on,
            contract_kind=cer.contract_kind,
            **({"weekly_hours": cer.weekly_hours} if cer.weekly_hours is not None else {}),
        ))
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
        data: dict = {"person_id": s.person_id, "decision": msg.decision, "completed_on": msg.completed_on,
                      "global_outcome": msg.global_outcome, "domain_outcomes": list(msg.domain_outcomes)}
        if cer is not None:
            data["cer_id"] = cer.cer_id
            data["physical_appointments"] = cer.physical_appointments
            if cer.referent_type is OrientationTarget.CAF:
                # T16 / G-B12: a compliance indicator only, reported at CER end
                data["caf_min_physical_appointments_met"] = (
                    cer.physical_appointments >= self.rules.caf_physical_appointments_per_cer
                )
        data["ref"] = f"bilan-{cer.cer_id}" if cer else f"bilan-{s.seq}"
        self._push("BILAN", cer.cer_id if cer else f"bilan-{s.seq}", BilanPush(**data))
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
