"""What a case keeps of the 2025 rules (domain.md §8.3): categories, dates and numbers only.

Apart from ``domain.plein_emploi`` (messages and checks) so that ``domain.pathway`` can hold it in its state.
"""

from __future__ import annotations

from datetime import date
from enum import Enum

from pydantic import BaseModel, Field

MAX_SANCTIONS_2025 = 20
MAX_SWITCHES = 5


class HoursReason(str, Enum):
    """Why a contrat d'engagement lowers or waives the 15 weekly hours (the person's situation, §8.3)."""

    HEALTH = "HEALTH"
    DISABILITY = "DISABILITY"
    ISOLATED_PARENT_NO_CHILDCARE = "ISOLATED_PARENT_NO_CHILDCARE"
    OTHER_SITUATION = "OTHER_SITUATION"  # another personal or family situation, documented in the referent's tool


class FailureKind(str, Enum):
    FIRST = "FIRST"  # first failure: 1 to 2 months
    REPEATED = "REPEATED"  # repeated failure: up to 4 months


class Sanction2025(BaseModel):
    """A suspension-remobilisation as recorded and transmitted; the system never applies it to rights."""

    sanction_id: str
    failure: FailureKind
    decided_on: date
    share_percent: int
    months: int
    household_size: int
    recorded_on: date
    remobilised_on: date | None = None
    repayment: bool | None = None  # True: paid back on remobilisation; False: lost (suppression)


class RuleSetSwitch(BaseModel):
    """The rule set a case moved to at its bilan: when, from which version to which (an event of the case)."""

    from_version: str
    to_version: str
    switched_on: date
    recorded_on: date


class PleinEmploiState(BaseModel):
    """What a case keeps of the 2025 rules (part of ``PathwayState``, carried across runs)."""

    france_travail_registered_on: date | None = None
    sanctions: list[Sanction2025] = Field(default_factory=list)
    switches: list[RuleSetSwitch] = Field(default_factory=list)
