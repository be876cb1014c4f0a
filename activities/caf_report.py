"""The CAF's counts from the read model, and the stored annual reports (definitions in ``domain/caf_report.py``).

An accompaniment is a pathway whose first CER with a CAF referent started in the year (view
``caf_accompaniments_by_year``, migration 002), counted per CAF referent id. Storing a report is an upsert by year.
"""

from __future__ import annotations

import json
from datetime import date

import asyncpg
from temporalio import activity

from domain.caf_report import BUILD, STORE, CafFacts, CafReport, CafReportRequest, build_caf_report
from domain.rules import caf_convention_for


class CafReportStore:
    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self.db = db

    async def facts(self, year: int) -> CafFacts:
        first, last = date(year, 1, 1), date(year, 12, 31)
        db = self.db
        facts = CafFacts(year=year)
        rows = await db.fetch("SELECT structure_id, count(*) AS n FROM caf_accompaniments_by_year WHERE year = $1 "
                              "GROUP BY structure_id", year)
        facts.by_structure = {r["structure_id"]: r["n"] for r in rows}
        facts.accompaniments = sum(facts.by_structure.values())
        cers = await db.fetchrow(
            """SELECT count(*) FILTER (WHERE signed_on BETWEEN $1 AND $2) AS signed,
                      count(*) FILTER (WHERE end_on BETWEEN $1 AND $2) AS ended,
                      count(*) FILTER (WHERE end_on BETWEEN $1 AND $2 AND physical_appointments >= 3) AS ended_3
               FROM pathway_cers WHERE referent_type = 'CAF'""", first, last)
        facts.cers_signed, facts.cers_ended, facts.cers_ended_with_3_physical = cers["signed"], cers["ended"], cers["ended_3"]
        facts.cers_by_gesica_domain = {r["d"]: r["n"] for r in await db.fetch(
            """SELECT gesica_domain AS d, count(*) AS n FROM pathway_cers
               WHERE referent_type = 'CAF' AND gesica_domain IS NOT NULL AND signed_on BETWEEN $1 AND $2
               GROUP BY gesica_domain""", first, last)}
        facts.saisines_by_mode = {r["mode"]: r["n"] for r in await db.fetch(
            """SELECT p.caf_saisine_mode AS mode, count(DISTINCT p.pathway_id) AS n
               FROM pathways p JOIN stage_changes s USING (pathway_id)
               WHERE s.cause = 'CAF_SAISINE_ACCEPTED' AND s.changed_on BETWEEN $1 AND $2
                 AND p.caf_saisine_mode IS NOT NULL
               GROUP BY p.caf_saisine_mode""", first, last)}
        facts.exits_by_reason = {r["reason"]: r["n"] for r in await db.fetch(
            """SELECT exit_reason AS reason, count(*) AS n FROM pathways
               WHERE referent_type = 'CAF' AND closed_on BETWEEN $1 AND $2 AND exit_reason IS NOT NULL
               GROUP BY exit_reason""", first, last)}
        facts.reorientations = await db.fetchval(
            """SELECT count(DISTINCT s.pathway_id) FROM stage_changes s
               WHERE s.cause = 'REORIENTED' AND s.changed_on BETWEEN $1 AND $2
                 AND EXISTS (SELECT 1 FROM pathway_cers c WHERE c.pathway_id = s.pathway_id AND c.referent_type = 'CAF'
                             AND c.signed_on <= s.changed_on)""", first, last)
        return facts

    async def report(self, year: int, etp: int | None = None) -> CafReport:
        """The live report of a year against the convention in force on 1 January of that year."""
        return build_caf_report(await self.facts(year), caf_convention_for(date(year, 1, 1)), etp)

    async def store(self, report: CafReport) -> None:
        await self.db.execute(
            """INSERT INTO caf_annual_reports (year, convention, due_on, report) VALUES ($1, $2, $3, $4::jsonb)
               ON CONFLICT (year) DO UPDATE SET convention = EXCLUDED.convention, due_on = EXCLUDED.due_on,
                   report = EXCLUDED.report, generated_at = now()""",
            report.year, report.convention, report.due_on, report.model_dump_json())

    async def stored(self, year: int) -> CafReport | None:
        raw = await self.db.fetchval("SELECT report FROM caf_annual_reports WHERE year = $1", year)
        return CafReport.model_validate(json.loads(raw) if isinstance(raw, str) else raw) if raw is not None else None


class CafReportActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._store = CafReportStore(pool)

    @activity.defn(name=BUILD)
    async def build(self, req: CafReportRequest) -> CafReport:
        assert req.year is not None
        return await self._store.report(req.year, req.etp)

    @activity.defn(name=STORE)
    async def store(self, report: CafReport) -> None:
        await self._store.store(report)

    def all(self) -> list:
        return [self.build, self.store]
