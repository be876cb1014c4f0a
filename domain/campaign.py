"""The « perdus de vue » campaign (T26, R18, G-B19): whom the Département's services convoke each month.

"Zéro bénéficiaire sans accompagnement" [002:513-558]: persons soumis aux droits et devoirs with no accompaniment
are convoked to be oriented; a no-show leads to the sanction path (T20). The seeds give neither the cadence nor
the selection (G-B19); the defaults are a monthly run selecting the pathways still « sans accompagnement »
(no CER: not oriented, or oriented / designated without a contract) for longer than the rule set's
``lost_from_view_months`` (2 months: the platform phase and the first CER take at most 2 months, R3, R7) and not
convoked during that time. Each selected pathway receives the existing ``lost_from_view_convocation`` signal,
for an appointment ``lost_from_view_appointment_days`` later; the campaign is recorded (migration 029).

Pure: models and date rules shared by the workflow, its activities and the tests.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from domain.deadlines import add_days, add_months
from domain.pathway import LostFromViewConvocation
from domain.pathway_constants import LOST_FROM_VIEW_STAGES
from domain.rules import RuleSet

WORKFLOW_TYPE = "LostFromViewCampaign"
WORKFLOW_ID_PREFIX = "lost-from-view-campaign"  # the schedule appends the scheduled time
SCHEDULE_ID = "lost-from-view-campaign-monthly"
MAX_PER_CAMPAIGN = 5000  # bounds one run's payloads (pathway ids only)

SELECT = "campaign.select"
CONVOKE = "campaign.convoke"
RECORD = "campaign.record"

#: The stages of a person « sans accompagnement » (shared with the pathway's own check of the convocation).
STAGES = tuple(sorted(s.value for s in LOST_FROM_VIEW_STAGES))


class CampaignInput(BaseModel):
    """Start input (the schedule's); ``territory`` limits the campaign to one territory."""

    territory: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=MAX_PER_CAMPAIGN, ge=1, le=MAX_PER_CAMPAIGN)


class SelectRequest(BaseModel):
    as_of: date
    cutoff: date
    territory: str | None = None
    limit: int = MAX_PER_CAMPAIGN


class ConvokeRequest(BaseModel):
    campaign_id: str
    convoked_on: date
    appointment_date: date
    pathway_ids: list[str]


class ConvokeResult(BaseModel):
    convoked: list[str] = Field(default_factory=list)  # signal delivered to a running pathway
    not_found: list[str] = Field(default_factory=list)  # no running pathway any more


class CampaignReport(BaseModel):
    """The stored row of a campaign (table ``lost_from_view_campaigns``), ids and counts only."""

    campaign_id: str
    run_on: date
    cutoff: date
    appointment_date: date
    territory: str | None = None
    selected: int = 0
    convoked: int = 0
    not_found: int = 0


class CampaignRecord(BaseModel):
    report: CampaignReport
    convoked: list[str] = Field(default_factory=list)
    not_found: list[str] = Field(default_factory=list)


def selection_cutoff(as_of: date, rules: RuleSet) -> date:
    """A pathway « sans accompagnement » since this day or before is lost from view on ``as_of``."""
    return add_months(as_of, -rules.lost_from_view_months)


def appointment_date(as_of: date, rules: RuleSet) -> date:
    return add_days(as_of, rules.lost_from_view_appointment_days)


def convocation(campaign_id: str, convoked_on: date, appointment: date) -> LostFromViewConvocation:
    """The pathway's message: one convocation per campaign (its id is the campaign's; a re-sent one is ignored)."""
    return LostFromViewConvocation(event_id=f"{campaign_id}:convocation", convocation_id=campaign_id,
                                   convoked_on=convoked_on, appointment_date=appointment)
