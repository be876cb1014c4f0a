"""The 2025 rules applied to a pathway (domain.md §8.3, G-B22), as a part of :class:`domain.pathway_rules.Pathway`.

- The rule set follows the case's entry date (the CAF transmission date that starts the orientation clock):
  from 1 January 2025 a new case gets ``RULESET_2025``; a case keeps its rule set until its bilan, where the
  referent may move it to the later rules (``switch_rule_set``), an event recorded with its date and versions.
- France Travail registration is a fact received by signal; its absence after the rule set's delay is a task.
- The contrat d'engagement (action plan, weekly hours, the situation that lowers or waives them) is signed
  through ``sign_contrat_engagement``; a 2023 case refuses it.
- The suspension-remobilisation is decided by a person, recorded within the rule set's bounds and transmitted
  to the RSA service as a task, then the remobilisation (repayment) or not: never applied to rights here.
"""

from __future__ import annotations

from datetime import date
from typing import Callable

from domain.deadlines import add_days
from domain.pathway import (
    Deadline,
    DeadlineKind,
    DeadlineStatus,
    DecisionKind,
    HouseholdChange,
    PathwayRuleError,
    PathwayState,
    Stage,
)
from domain.pathway_constants import SANCTION_2025_CLOSES_EP
from domain.plein_emploi import (
    MAX_SANCTIONS_2025,
    MAX_SWITCHES,
    DecideSanction2025,
    FranceTravailRegistered,
    Remobilised,
    RuleSetSwitch,
    Sanction2025,
    SignContratEngagement,
    SwitchRuleSet,
    check_sanction_terms,
    check_weekly_hours,
)
from domain.rules import RULE_SETS, RuleSet, rule_set, rule_set_for

#: The rule set of a pathway opened before rule sets followed the entry date (it knew no other).
LEGACY_RULE_SET_VERSION = "2023.1"
#: Stages where a suspension-remobilisation may be decided: after the équipe pluridisciplinaire was seized, so
#: that the person could present observations (§8.3).
SANCTION_STAGES = frozenset({Stage.NON_COMPLIANCE_EP, Stage.SANCTION_PROCEDURE})
#: Who applies a sanction to the rights: the Département's RSA service (DPID, A4), which has the CAF apply it.
SANCTION_SERVICE = "SERVICE_RSA"
SANCTION_TASK = "APPLY_RSA_SANCTION"
REMOBILISATION_TASK = "TRANSMIT_REMOBILISATION"
FRANCE_TRAVAIL_TASK = "FRANCE_TRAVAIL_REGISTRATION"
#: The équipe pluridisciplinaire's task (``confirm_ep``), done by its decision, a 2025 sanction included.
EP_REFERRAL_TASK = "EP_REFERRAL"
#: Tasks of the RSA service carrying a decision on the allowance (2023 EP sanctions and the 2025 ones): owed
#: whatever becomes of the accompaniment (a reorientation, the pathway's close, a radiation itself), so never
#: cancelled with the other tasks of a closed case; moot only when the rights end (domain.md §8.3, G-B14).
SERVICE_RSA_TASKS = frozenset({SANCTION_TASK, REMOBILISATION_TASK})
#: MOTISUSVERSRSA « application d'une sanction » (domain.flux_codes): a flow showing the payment suspended for it
#: says the CAF applied the sanction, the step ``APPLY_RSA_SANCTION`` asked for.
SANCTION_APPLIED_SUSPENSION = "CG"


def rule_set_at_entry(entry: date) -> str:
    """The version in force on the entry date; a case entered before the first rule set gets the earliest."""
    earliest = min(RULE_SETS, key=lambda r: r.effective_from)
    return (earliest if entry < earliest.effective_from else rule_set_for(entry)).version


class PleinEmploiRules:
    """Methods of :class:`domain.pathway_rules.Pathway` for the 2025 rules (a base class of it: they use its
    bookkeeping, ``_task``, ``_note``, ``_add_deadline``…, and its checks of a CER)."""

    s: PathwayState
    rules: RuleSet
    _patched: Callable[[str], bool]

    # ------------------------------------------------------------------ rule set and France Travail

    def _rules_at_entry(self, entry: date, today: date) -> None:
        """Called when the orientation clock starts: the case's rule set is the one of its entry date."""
        s = self.s
        if s.rules_by_entry_date and s.cer_count == 0 and not s.plein_emploi.switches:
            s.rule_set_version = rule_set_at_entry(entry)
            self.rules = rule_set(s.rule_set_version)
        self._await_france_travail(entry, today)

    def _await_france_travail(self, since: date, today: date) -> None:
        s = self.s
        if not self.rules.france_travail_registration or s.plein_emploi.france_travail_registered_on is not None:
            return
        if self._pending({DeadlineKind.FRANCE_TRAVAIL_REGISTRATION}):
            return
        due = add_days(since, self.rules.france_travail_registration_days)
        self._add_deadline(DeadlineKind.FRANCE_TRAVAIL_REGISTRATION, since, max(due, add_days(today, 1)), self.slai)

    def _france_travail_overdue(self, d: Deadline) -> None:
        self._task(FRANCE_TRAVAIL_TASK, d.responsible, d.id, None,
                   {"since": d.started_on.isoformat(), "days": str(self.rules.france_travail_registration_days)})

    def on_france_travail_registered(self, msg: FranceTravailRegistered, today: date) -> None:
        s = self.s
        if msg.registered_on > today:
            raise PathwayRuleError("DATE_IN_FUTURE", "a registration cannot be dated after today")
        known = s.plein_emploi.france_travail_registered_on
        if known is not None and known <= msg.registered_on:
            return
        s.plein_emploi.france_travail_registered_on = msg.registered_on
        for d in s.deadlines:
            if d.kind is not DeadlineKind.FRANCE_TRAVAIL_REGISTRATION:
                continue
            if d.status is DeadlineStatus.PENDING or (d.status is DeadlineStatus.FIRED and msg.registered_on <= d.due):
                # §8.3: registration is automatic when the RSA is requested; one dated in time but known after the
                # clock fired was not missing (as a late fact withdraws a breach, G-B7): the clock is met that day
                d.status, d.closed_on, d.paused_by, d.paused_since = DeadlineStatus.MET, msg.registered_on, [], None
                self._touch(d)
        self._close_tasks(frozenset({FRANCE_TRAVAIL_TASK}), "FRANCE_TRAVAIL_REGISTERED")
        self._note(today, "FRANCE_TRAVAIL_REGISTERED")

    # ------------------------------------------------------------------ contrat d'engagement

    def check_sign_contrat_engagement(self, msg: SignContratEngagement, today: date) -> None:
        check_weekly_hours(self.rules, msg.weekly_hours, msg.hours_reason)
        self.check_sign_cer(msg, today)

    def sign_contrat_engagement(self, msg: SignContratEngagement, today: date) -> None:
        self.sign_cer(msg, today)

    # ------------------------------------------------------------------ suspension-remobilisation

    def household_size(self) -> int:
        """The person and the household members the flows say are still there (G-B20)."""
        return 1 + sum(1 for m in self.s.household if m.status is not HouseholdChange.LEFT)

    def check_sanction_2025(self, msg: DecideSanction2025, today: date) -> None:
        s = self.s
        if self.rules.suspension_remobilisation_from is None:
            raise PathwayRuleError("SANCTION_2025_NOT_IN_RULE_SET",
                                   f"rule set {self.rules.version} has no suspension-remobilisation")
        if s.stage not in SANCTION_STAGES:
            raise PathwayRuleError("STAGE_NOT_ALLOWED",
                                   f"a suspension-remobilisation follows the EP referral (stage {s.stage.value})")
        if msg.decided_on > today:
            raise PathwayRuleError("DATE_IN_FUTURE", "a sanction cannot be dated after today")
        check_sanction_terms(self.rules, msg, self.household_size(), len(s.plein_emploi.sanctions))

    def decide_sanction_2025(self, msg: DecideSanction2025, today: date) -> None:
        s = self.s
        sanction = Sanction2025(sanction_id=f"ssr-{self._bump()}", failure=msg.failure, decided_on=msg.decided_on,
                                share_percent=msg.share_percent, months=msg.months,
                                household_size=self.household_size(), recorded_on=today)
        kept = s.plein_emploi.sanctions
        kept.append(sanction)
        del kept[: max(0, len(kept) - MAX_SANCTIONS_2025)]
        self._decided(DecisionKind.EP, f"SUSPENSION_REMOBILISATION_{msg.failure.value}")
        if any(t.kind == EP_REFERRAL_TASK for t in s.open_tasks) and self._patched(SANCTION_2025_CLOSES_EP):
            self._close_tasks(frozenset({EP_REFERRAL_TASK}), "EP_DECIDED")
        self._task(SANCTION_TASK, SANCTION_SERVICE, sanction.sanction_id, None, {
            "outcome": "SUSPENSION_REMOBILISATION", "failure": msg.failure.value,
            "decided_on": msg.decided_on.isoformat(), "share_percent": str(msg.share_percent),
            "months": str(msg.months), "household_size": str(sanction.household_size),
        })
        s.ep = None
        if s.cer is not None:
            s.cer.missed_unexcused = 0
        self._release(today, "SANCTION_SUSPENSION_REMOBILISATION")

    def check_remobilised(self, msg: Remobilised, today: date) -> None:
        sanction = self._sanction(msg.sanction_id)
        if sanction.remobilised_on is not None:
            raise PathwayRuleError("SANCTION_2025_SETTLED", f"{msg.sanction_id} was already settled")
        if not sanction.decided_on <= msg.decided_on <= today:
            raise PathwayRuleError("REMOBILISATION_DATE",
                                   f"the remobilisation is dated between the sanction ({sanction.decided_on.isoformat()}) "
                                   f"and today ({today.isoformat()})")

    def remobilised(self, msg: Remobilised, today: date) -> None:
        sanction = self._sanction(msg.sanction_id)
        sanction.remobilised_on, sanction.repayment = msg.decided_on, msg.repayment
        outcome = "REPAYMENT" if msg.repayment else "SUPPRESSION"
        self._decided(DecisionKind.EP, f"REMOBILISATION_{outcome}")
        self._task(REMOBILISATION_TASK, SANCTION_SERVICE, sanction.sanction_id, None, {
            "outcome": outcome, "decided_on": msg.decided_on.isoformat(),
            "share_percent": str(sanction.share_percent), "months": str(sanction.months),
        })
        self._note(today, f"REMOBILISATION_{outcome}")

    def _sanction(self, sanction_id: str) -> Sanction2025:
        for sanction in self.s.plein_emploi.sanctions:
            if sanction.sanction_id == sanction_id:
                return sanction
        raise PathwayRuleError("SANCTION_2025_UNKNOWN", f"no suspension-remobilisation {sanction_id} on this case")

    # ------------------------------------------------------------------ switching rule sets at the bilan

    def check_switch_rule_set(self, msg: SwitchRuleSet, today: date) -> None:
        if self.s.stage is not Stage.BILAN:
            raise PathwayRuleError("STAGE_NOT_ALLOWED",
                                   f"a case changes rule set at its bilan only (stage {self.s.stage.value})")
        if msg.switched_on > today:
            raise PathwayRuleError("DATE_IN_FUTURE", "a switch cannot be dated after today")
        try:
            target = rule_set(msg.to_version)
        except ValueError:
            raise PathwayRuleError("RULE_SET_UNKNOWN", f"unknown rule set {msg.to_version!r}") from None
        if target.effective_from <= self.rules.effective_from:
            raise PathwayRuleError("RULE_SET_NOT_LATER",
                                   f"a case moves to later rules only ({self.rules.version} → {target.version})")
        if target.effective_from > msg.switched_on:
            raise PathwayRuleError("RULE_SET_NOT_IN_FORCE",
                                   f"{target.version} is in force from {target.effective_from.isoformat()}")

    def switch_rule_set(self, msg: SwitchRuleSet, today: date) -> None:
        s = self.s
        switch = RuleSetSwitch(from_version=s.rule_set_version, to_version=msg.to_version,
                               switched_on=msg.switched_on, recorded_on=today)
        s.plein_emploi.switches.append(switch)
        del s.plein_emploi.switches[: max(0, len(s.plein_emploi.switches) - MAX_SWITCHES)]
        s.rule_set_version = msg.to_version
        self.rules = rule_set(msg.to_version)
        self._note(today, f"RULE_SET_SWITCHED:{switch.from_version}->{switch.to_version}")
        self._await_france_travail(msg.switched_on, today)
