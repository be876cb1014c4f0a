"""The CAF's quota and annual report (domain.md §3.7; G-C1, G-C3, G-C8).

The convention asks at least 20 accompaniments per ETP and 1 300 per year [000:256][000:414], and a
qualitative and quantitative bilan with an impact measure sent at the latest on 31 January of the next year
[000:260]. The system counts what it knows (pathways on the CAF route, from the read model) per CAF referent id —
the structure id the CAF gives its social worker or team (G-C3: the ETP count is a parameter of the convention) —
and stores the report each 31 January (``CafAnnualReport``, Schedule ``caf-annual-report``). Counts and ids only.

Pure: models and arithmetic shared by the activities, the workflow, the API and the CLI.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from domain.rules import CafConvention

WORKFLOW_TYPE = "CafAnnualReport"
WORKFLOW_ID_PREFIX = "caf-annual-report"
SCHEDULE_ID = "caf-annual-report"
BUILD = "caf_report.build"
STORE = "caf_report.store"
CAF_2022_ACCOMPANIMENTS = 1022  # [000:414]: the 2022 figure the convention starts from


class StructureCount(BaseModel):
    """One CAF referent id (social worker or team) and its accompaniments started in the year."""

    structure_id: str
    accompaniments: int
    per_etp_target: int
    reached: bool


class CafFacts(BaseModel):
    """What the read model says about the CAF route in a year (activities fill it)."""

    year: int
    accompaniments: int = 0  # pathways whose first CAF CER started in the year
    by_structure: dict[str, int] = Field(default_factory=dict)
    cers_signed: int = 0  # CAF CERs signed in the year (first and renewals)
    cers_ended: int = 0  # CAF CERs ended in the year
    cers_ended_with_3_physical: int = 0  # of which ≥ 3 physical appointments (T16 [000:196])
    cers_by_gesica_domain: dict[str, int] = Field(default_factory=dict)
    saisines_by_mode: dict[str, int] = Field(default_factory=dict)  # M1, M2, M3 accepted in the year
    exits_by_reason: dict[str, int] = Field(default_factory=dict)  # CAF pathways closed in the year
    reorientations: int = 0  # CAF pathways reoriented to another referent in the year


class CafReport(BaseModel):
    """The quota view (live) and the annual report (stored): convention, targets, counts, per ETP."""

    year: int
    convention: str
    convention_period: tuple[date, date]
    due_on: date
    etp: int
    per_etp_target: int
    year_target: int
    accompaniments: int
    per_etp: float
    per_etp_reached: bool
    year_reached: bool
    widening_possible: bool  # M3: the SLAI may widen when below 20 per ETP [000:212]
    reference_2022: int = CAF_2022_ACCOMPANIMENTS
    structures: list[StructureCount] = Field(default_factory=list)
    facts: CafFacts


def build_caf_report(facts: CafFacts, convention: CafConvention, etp: int | None = None) -> CafReport:
    etp = etp or convention.etp
    per_etp = round(facts.accompaniments / etp, 2) if etp else 0.0
    structures = [StructureCount(structure_id=sid, accompaniments=n, per_etp_target=convention.per_etp,
                                 reached=n >= convention.per_etp)
                  for sid, n in sorted(facts.by_structure.items())]
    return CafReport(
        year=facts.year, convention=convention.version,
        convention_period=(convention.period_start, convention.period_end), due_on=convention.report_due(facts.year),
        etp=etp, per_etp_target=convention.per_etp, year_target=convention.per_year,
        accompaniments=facts.accompaniments, per_etp=per_etp, per_etp_reached=per_etp >= convention.per_etp,
        year_reached=facts.accompaniments >= convention.per_year, widening_possible=per_etp < convention.per_etp,
        structures=structures, facts=facts,
    )


class CafReportRequest(BaseModel):
    """Workflow input; ``year`` defaults to the year before the run (the report due each 31 January)."""

    year: int | None = Field(default=None, ge=2009, le=2100)
    etp: int | None = Field(default=None, ge=1, le=10000)


def report_year(today: date) -> int:
    """The year a run on ``today`` reports on: the previous one (due 31 January)."""
    return today.year - 1
