"""The dated, versioned rule set: every duration and threshold of the rules in one place.

Each case records the version of the rule set it started under (``RuleSet.version``) so that a later
change of the rules never silently changes a running case. Sources are cited as in ``domain.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import Enum

from pydantic import BaseModel, ConfigDict


class ContractKind(str, Enum):
    """The contract that formalises the accompaniment under a rule set (domain.md §8.3)."""

    CER = "CER"  # contrat d'engagements réciproques, 2023 rules [000:181]
    CONTRAT_ENGAGEMENT = "CONTRAT_ENGAGEMENT"  # loi n° 2023-1196 « pour le plein emploi », from 1 January 2025


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    effective_from: date

    # Beneficiary pathway (domain.md §2)
    orientation_months: int = 1  # [002:3707]
    orientation_reminder_days: int = 21  # T4 [DESIGN DEFAULT]: SLAI manager reminded at entry + 21 days
    first_appointment_days: int = 14  # [002:3708-3709], G-B1
    first_appointment_reminder_days: int = 10  # T7 [DESIGN DEFAULT]: platform reminded at orientation + 10 days
    first_cer_months: int = 2  # [002:3711], G-B5
    platform_phase_months: int = 2  # [002:355]
    slai_validation_working_days: int = 10  # G-B6
    referent_cer_months: int = 2  # G-B6
    cer_max_months: int = 6  # [000:181], G-B10
    bilan_reminder_days: int = 30  # G-B11
    bilan_overdue_days: int = 15  # T17: bilan overdue flag at CER end + 15 days
    post_exit_months: int = 6  # [000:238]
    post_exit_choice_days: int = 15  # G-B15
    personal_situation_review_months: int = 3  # G-B17
    max_reconvocations: int = 1  # T9
    non_compliance_missed_appointments: int = 2  # G-B13
    socio_pro_min_actions: int = 3  # [001:235][002:493]
    solidarite_min_actions: int = 1  # [001:233]
    not_subject_confirmation_flows: int = 2  # G-B8: "non soumis" stable over 2 daily flows
    flow_seen_ids_kept: int = 20  # G-X1: recent flow observation ids kept to drop duplicate files
    lost_from_view_months: int = 2  # G-B19 [DESIGN DEFAULT]: « sans accompagnement » this long → campaign (R3, R7)
    lost_from_view_appointment_days: int = 15  # G-B19 [DESIGN DEFAULT]: the campaign's appointment, 15 days later

    # The 2025 rules (domain.md §8.3, G-B22). ``cer_max_months`` and ``first_cer_months`` are the contract's
    # maximum duration and signing deadline whatever its kind: each rule set holds its own values.
    contract_kind: ContractKind = ContractKind.CER
    france_travail_registration: bool = False  # registration with France Travail awaited from the entry date
    france_travail_registration_days: int = 30  # [TO CONFIRM] its absence this long after entry is a task
    contract_weekly_hours_min: int | None = None  # hours of activity a week a contrat d'engagement includes
    suspension_remobilisation_from: date | None = None  # the sanction « suspension-remobilisation » applies from
    sanction_share_min_percent: int = 30  # first failure: 30 % to 100 % of the allowance suspended
    sanction_share_max_percent: int = 100
    sanction_first_months_min: int = 1  # first failure: 1 to 2 months
    sanction_first_months_max: int = 2
    sanction_repeated_months_max: int = 4  # repeated failure: up to 4 months
    sanction_household_share_max_percent: int = 50  # household of more than one person: at most 50 %

    # CAF route (domain.md §3)
    caf_per_etp: int = 20  # [000:256]
    caf_per_year: int = 1300  # [000:256][000:414]
    caf_physical_appointments_per_cer: int = 3  # [000:196]
    caf_min_age: int = 16  # G-C2

    # Label référent RSA (domain.md §4)
    label_instruction_months: int = 6  # [001:310]
    label_instruction_alert_months: tuple[int, ...] = (4, 5)  # G-L11
    moratorium_months: int = 6  # [001:291]
    first_campaign_reapplication_floor: date = date(2026, 1, 1)  # G-L10
    first_campaign_year: int = 2025
    campaign_opening: date = date(2025, 1, 1)  # [001:308]
    appeal_months: int = 2  # [001:324-334]
    appeal_answer_months: int = 2  # [001:324], G-L19
    label_validity_years: int = 5  # [001:137]
    renewal_window_first_month: int = 1  # January [001:143]
    renewal_window_last_month: int = 7  # July [001:143]
    renewal_cer_per_professional: int = 2  # G-L16
    training_within_months_of_arrival: int = 12  # [001:217], G-L8
    cer_per_professional: int = 5  # [001:253]
    cer_quality_threshold: float = 8.0  # 80 % of 10 points [001:253], G-L2
    cer_grid_max: float = 10.0
    withdrawal_observation_months: int = 1  # G-L18
    quality_remediation_months: int = 6  # [001:356]
    moratorium_grace_months: int = 6  # G-L9
    funding_requires_label_from: date = date(2026, 7, 1)  # G-L13
    letter_ar_reminder_days: int = 15  # L9/G-L19: no acknowledgement of receipt this long after sending → task


RULESET_2023 = RuleSet(version="2023.1", effective_from=date(2023, 1, 1))

#: Cases entered from 1 January 2025 (loi n° 2023-1196 du 18 décembre 2023, domain.md §8.3). The contract's
#: duration (6 months) and signing deadline (2 months after orientation) keep the 2023 values [TO CONFIRM].
RULESET_2025 = RULESET_2023.model_copy(update={
    "version": "2025.1",
    "effective_from": date(2025, 1, 1),
    "contract_kind": ContractKind.CONTRAT_ENGAGEMENT,
    "france_travail_registration": True,
    "contract_weekly_hours_min": 15,
    "suspension_remobilisation_from": date(2025, 6, 1),  # décret du 30 mai 2025
    "cer_max_months": 6,  # [TO CONFIRM]
    "first_cer_months": 2,  # [TO CONFIRM]
})

RULE_SETS: tuple[RuleSet, ...] = (RULESET_2023, RULESET_2025)


def _check_unique(rule_sets: tuple[RuleSet, ...]) -> None:
    """Two rule sets with one version or one start date would make a case's rules ambiguous."""
    versions = [r.version for r in rule_sets]
    starts = [r.effective_from for r in rule_sets]
    if len(set(versions)) != len(versions) or len(set(starts)) != len(starts):
        raise ValueError("rule set versions and effective dates must be unique")


_check_unique(RULE_SETS)


def rule_set_for(day: date, rule_sets: Sequence[RuleSet] | None = None) -> RuleSet:
    """The rule set in force on ``day`` (the latest one whose ``effective_from`` is not after it)."""
    if isinstance(day, datetime):
        raise TypeError("rule_set_for takes a civil date (use domain.deadlines.paris_date for instants)")
    applicable = [r for r in (RULE_SETS if rule_sets is None else rule_sets) if r.effective_from <= day]
    if not applicable:
        raise ValueError(f"no rule set in force on {day.isoformat()}")
    return max(applicable, key=lambda r: r.effective_from)


def rule_set(version: str, rule_sets: Sequence[RuleSet] | None = None) -> RuleSet:
    """The rule set a case recorded when it started."""
    for candidate in RULE_SETS if rule_sets is None else rule_sets:
        if candidate.version == version:
            return candidate
    raise ValueError(f"unknown rule set version {version!r}")


class CafConvention(BaseModel):
    """The CAF–Département convention « Accompagnement social des bénéficiaires du RSA » as dated parameters (G-C1).

    The 2023 convention runs 1 January – 31 December 2023 [000:159]; its renewal is unknown, so its values carry
    forward until a later convention is recorded here (G-C1 default). A CAF figure of year N is read against the
    convention in force on 1 January of N."""

    model_config = ConfigDict(frozen=True)

    version: str
    period_start: date
    period_end: date
    per_etp: int = 20  # at least 20 accompaniments per ETP [000:256]
    per_year: int = 1300  # 1 300 accompaniments per year [000:256][000:414]
    etp: int = 65  # G-C3: ETP count not given, derived 1 300 / 20
    physical_appointments_per_cer: int = 3  # [000:196]
    report_due_month: int = 1  # the annual bilan: at the latest 31 January of the next year [000:260] (G-C8)
    report_due_day: int = 31
    monjob62_minimum: tuple[str, ...] = ("CER", "BILAN", "EXIT")  # 2023 minimum data in MonJob62 [000:273]
    notice_months: int = 6  # dénonciation with 6 months' notice [000:290]

    def report_due(self, year: int) -> date:
        """The day the CAF's report on ``year`` is due (31 January of the next year)."""
        return date(year + 1, self.report_due_month, self.report_due_day)


CAF_CONVENTION_2023 = CafConvention(version="CAF-2023", period_start=date(2023, 1, 1), period_end=date(2023, 12, 31))
CAF_CONVENTIONS: tuple[CafConvention, ...] = (CAF_CONVENTION_2023,)


def caf_convention_for(day: date, conventions: Sequence[CafConvention] | None = None) -> CafConvention:
    """The convention in force on ``day``: the latest one started by then, carried forward past its end (G-C1)."""
    started = [c for c in (CAF_CONVENTIONS if conventions is None else conventions) if c.period_start <= day]
    if not started:
        raise ValueError(f"no CAF convention on {day.isoformat()}")
    return max(started, key=lambda c: c.period_start)


# Plausible dates (hardening): every date entering the system (API, flow files, CSV lists) must fall in this
# window, so that no deadline computed from it can leave what ``datetime`` and the Paris time zone carry.
EARLIEST_CASE_DATE = date(2009, 6, 1)  # the RSA began on 1 June 2009 (loi n° 2008-1249)
FUTURE_MARGIN_DAYS = 31  # a fact may be dated a little ahead (a scheduled appointment, a next-month flow)


class ImplausibleDate(ValueError):
    """A date outside [EARLIEST_CASE_DATE, today + FUTURE_MARGIN_DAYS]; its message says which bound."""


def check_plausible_date(day: date, today: date, *, field: str = "date") -> date:
    """Return ``day`` when it lies in the plausible window around ``today``, else raise ``ImplausibleDate``."""
    latest = today + timedelta(days=FUTURE_MARGIN_DAYS)
    if day < EARLIEST_CASE_DATE:
        raise ImplausibleDate(f"{field} {day.isoformat()} is before {EARLIEST_CASE_DATE.isoformat()} (start of the RSA)")
    if day > latest:
        raise ImplausibleDate(f"{field} {day.isoformat()} is after {latest.isoformat()} (today + {FUTURE_MARGIN_DAYS} days)")
    return day
