"""The 2025 rules (loi n° 2023-1196 « pour le plein emploi », domain.md §8.3, G-B22): messages, state and checks.

Pure and without I/O. A case follows the rule set it records (``PathwayState.rule_set_version``); the checks
here take that rule set explicitly and refuse what it does not provide (a 2023 case has no contrat d'engagement,
no suspension-remobilisation). Only ids, dates, numbers and categories: no free text about the person.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from domain.pathway import PathwayMessage, PathwayRuleError, SignCer
from domain.plein_emploi_state import (
    MAX_SANCTIONS_2025,
    MAX_SWITCHES,
    FailureKind,
    HoursReason,
    PleinEmploiState,
    RuleSetSwitch,
    Sanction2025,
)
from domain.rules import ContractKind, RuleSet

__all__ = ["MAX_SANCTIONS_2025", "MAX_SWITCHES", "FailureKind", "HoursReason", "PleinEmploiState", "RuleSetSwitch",
           "Sanction2025", "FranceTravailRegistered", "SignContratEngagement", "DecideSanction2025", "Remobilised",
           "SwitchRuleSet", "check_weekly_hours", "check_sanction_terms"]



class FranceTravailRegistered(PathwayMessage):
    """Signal ``france_travail_registered``: the person's registration with France Travail (flow or adapter)."""

    registered_on: date


class SignContratEngagement(SignCer):
    """Update ``sign_contrat_engagement``: the action plan (``actions``) and the weekly hours of activity."""

    weekly_hours: int = Field(ge=0, le=35)
    hours_reason: HoursReason | None = None


class DecideSanction2025(PathwayMessage):
    """Update ``decide_sanction_2025``: a suspension-remobilisation decided by the Département's president."""

    decided_on: date
    failure: FailureKind
    share_percent: int = Field(ge=1, le=100)
    months: int = Field(ge=1, le=12)


class Remobilised(PathwayMessage):
    """Update ``remobilised``: after a suspension, the person resumed the contract's actions (``repayment``: the
    suspended amounts are paid back) or did not (they are lost)."""

    sanction_id: str = Field(max_length=64)
    decided_on: date
    repayment: bool


class SwitchRuleSet(PathwayMessage):
    """Update ``switch_rule_set``: at the bilan, the referent moves a case to a later rule set (§8.3)."""

    switched_on: date
    to_version: str = Field(max_length=16)


def check_weekly_hours(rules: RuleSet, weekly_hours: int, reason: HoursReason | None) -> None:
    """At least the rule set's weekly hours, or fewer (down to none) with the situation that justifies it."""
    minimum = rules.contract_weekly_hours_min
    if rules.contract_kind is not ContractKind.CONTRAT_ENGAGEMENT or minimum is None:
        raise PathwayRuleError("CONTRAT_ENGAGEMENT_NOT_IN_RULE_SET",
                               f"rule set {rules.version} has no contrat d'engagement (its contract is the "
                               f"{rules.contract_kind.value})")
    if weekly_hours < minimum and reason is None:
        raise PathwayRuleError("CONTRAT_ENGAGEMENT_HOURS_REASON",
                               f"{weekly_hours} hours a week is below the {minimum} hours of a contrat d'engagement: "
                               "lowering or waiving them needs the person's situation (hours_reason)")
    if weekly_hours >= minimum and reason is not None:
        raise PathwayRuleError("CONTRAT_ENGAGEMENT_HOURS_REASON",
                               f"hours_reason is only for hours below {minimum} a week (got {weekly_hours})")


def check_sanction_terms(rules: RuleSet, msg: DecideSanction2025, household_size: int, earlier: int) -> None:
    """The bounds of the suspension-remobilisation in the case's rule set (§8.3): share, months, household cap."""
    start = rules.suspension_remobilisation_from
    if start is None:
        raise PathwayRuleError("SANCTION_2025_NOT_IN_RULE_SET",
                               f"rule set {rules.version} has no suspension-remobilisation (EP decisions apply)")
    if msg.decided_on < start:
        raise PathwayRuleError("SANCTION_2025_NOT_IN_FORCE",
                               f"the suspension-remobilisation applies from {start.isoformat()}")
    if not rules.sanction_share_min_percent <= msg.share_percent <= rules.sanction_share_max_percent:
        raise PathwayRuleError("SANCTION_2025_SHARE",
                               f"the suspended share is {rules.sanction_share_min_percent} % to "
                               f"{rules.sanction_share_max_percent} % (got {msg.share_percent} %)")
    if household_size > 1 and msg.share_percent > rules.sanction_household_share_max_percent:
        raise PathwayRuleError("SANCTION_2025_HOUSEHOLD_CAP",
                               f"for a household of {household_size} persons the suspended share is at most "
                               f"{rules.sanction_household_share_max_percent} % (got {msg.share_percent} %)")
    if msg.failure is FailureKind.FIRST:
        low, high = rules.sanction_first_months_min, rules.sanction_first_months_max
    else:
        if earlier == 0:
            raise PathwayRuleError("SANCTION_2025_NOT_REPEATED",
                                   "a repeated failure follows a suspension-remobilisation recorded on this case")
        low, high = rules.sanction_first_months_min, rules.sanction_repeated_months_max
    if not low <= msg.months <= high:
        raise PathwayRuleError("SANCTION_2025_MONTHS",
                               f"a {msg.failure.value.lower()} failure suspends for {low} to {high} months "
                               f"(got {msg.months})")
