"""What the worker runs: every workflow class and every activity, wired with its dependencies.

Each feature adds its workflows to ``WORKFLOWS`` and its activities in ``build_activities``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import asyncpg

from activities.caf_report import CafReportActivities
from activities.france_travail import FranceTravailActivities, FranceTravailClient, InMemoryFranceTravail
from activities.caseload_import import CaseloadImportActivities
from activities.campaign import CampaignActivities
from activities.label import label_activities
from activities.monjob import MonJob62Client
from activities.pathway import PathwayActivities, PathwayReadModel, monjob62_port
from activities.retention import RetentionActivities
from activities.flux_import import FluxImportActivities
from domain.territory import CommuneTable
from workflows.caf_report import CafAnnualReport
from workflows.caseload_import import CaseloadImport
from workflows.campaign import LostFromViewCampaign
from workflows.flux_drop import FluxDropScan
from workflows.france_travail_sync import FranceTravailSync
from workflows.flux_import import FluxImport
from workflows.label import LabelWorkflow
from workflows.label_application import LabelApplicationWorkflow
from workflows.label_yearly_list import LabelYearlyList
from workflows.retention import RetentionPurge
from workers.runtime.config import Settings
from workflows.pathway import BeneficiaryPathway


@dataclass
class Dependencies:
    """Connections injected into activity adapters (built once in the worker)."""

    pool: asyncpg.Pool | None = None
    monjob: MonJob62Client | None = None  # MONJOB62_URL; None: pathway pushes go to an in-memory fake
    person_id_key: bytes = field(default_factory=lambda: Settings.from_env().person_id_key)
    retention_months: int = field(default_factory=lambda: Settings.from_env().retention_months)
    france_travail: FranceTravailClient | None = None  # FRANCE_TRAVAIL_URL; None: an in-memory fake (nobody known)
    communes: CommuneTable | None = None  # PARCOURS_COMMUNE_TERRITORIES; None: flows use the import's territory


WORKFLOWS: list[type] = [BeneficiaryPathway, LabelApplicationWorkflow, LabelWorkflow, FluxImport, FluxDropScan,
                         RetentionPurge, LabelYearlyList, LostFromViewCampaign, CafAnnualReport, CaseloadImport,
                         FranceTravailSync]


def build_activities(deps: Dependencies) -> list[Callable[..., Any]]:
    activities: list[Callable[..., Any]] = []
    if deps.pool is not None:
        # Flow imports signal pathways with the worker's own client (activity.client()).
        activities += FluxImportActivities(deps.pool, deps.person_id_key, communes=deps.communes).all()
        activities += label_activities(deps.pool)
        activities += PathwayActivities(PathwayReadModel(deps.pool), monjob62_port(deps.monjob)).all()
        activities += RetentionActivities(deps.pool, deps.retention_months).all()  # Temporal: activity.client()
        activities += CampaignActivities(deps.pool).all()  # signals pathways with activity.client()
        activities += CafReportActivities(deps.pool).all()
        activities += FranceTravailActivities(deps.pool, deps.france_travail or InMemoryFranceTravail()).all()
        activities += CaseloadImportActivities(deps.pool, deps.person_id_key).all()  # activity.client()
    return activities
