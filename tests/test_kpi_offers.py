"""Seed-002 indicators (b), (d), (f), the accompagnement global's stock and persons per counsellor (domain.md
§5.1), counted from the read model's pathways and stage changes, with the 2022 reference values."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import asyncpg
import pytest_asyncio
from typer.testing import CliRunner

from activities.kpi import KpiReadModel
from domain import kpi
from domain.kpi import build_report
from kpi_rows import create_schema
from workers.cli.app import app

PERIOD = (date(2022, 1, 1), date(2022, 12, 31))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def offers_url(db_pool, database_url) -> str:
    """A private schema: six pathways designated to each kind of referent, at various stages."""
    schema = await create_schema(db_pool)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})

    async def pathway(kind: str, structure: str, entry: date, designated: date, stages: list[tuple[date, str]]):
        pid = f"pathway-{uuid.uuid4().hex}"
        await conn.execute(
            """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, referent_type,
                   referent_structure_id, entry_date, version) VALUES ($1, $2, 'ARRAGEOIS', '2023.1', $3, $4, $5, $6, 1)""",
            pid, pid[8:], stages[-1][1] if stages else "REFERENT_DESIGNATED", kind, structure, entry)
        changes = [(entry, "AWAITING_ORIENTATION"), (designated, "REFERENT_DESIGNATED"), *stages]
        for seq, (day, stage) in enumerate(changes, start=1):
            await conn.execute("""INSERT INTO stage_changes (pathway_id, seq, from_stage, to_stage, changed_on, cause)
                                  VALUES ($1, $2, NULL, $3, $4, 'TEST')""", pid, seq, stage, day)

    try:
        # (b) garantie: a new entrant of 2022 designated in 2022 (solidarité), an older entrant designated in 2022
        # (socio-pro: (d) oriented, not (b)'s « nouveaux entrants de l'année »), one closed before the year's end
        await pathway("REFERENT_SOLIDARITE", "CCAS-1", date(2022, 3, 1), date(2022, 3, 20), [(date(2022, 4, 1), "CER_ACTIVE")])
        await pathway("REFERENT_SOCIOPRO", "SOCIO-1", date(2021, 5, 1), date(2022, 2, 1), [(date(2022, 2, 10), "CER_ACTIVE")])
        await pathway("REFERENT_SOCIOPRO", "SOCIO-1", date(2022, 1, 5), date(2022, 1, 20), [(date(2022, 6, 1), "CLOSED")])
        # (f) PLIE: designated in 2021, still accompanied
        await pathway("PLIE", "PLIE-LENS", date(2021, 1, 4), date(2021, 2, 1), [(date(2021, 3, 1), "CER_ACTIVE")])
        # (c) AG: two counsellors' portfolios, one person designated after the period (not in its stock)
        await pathway("POLE_EMPLOI_AG", "AG-ARRAS", date(2022, 2, 1), date(2022, 2, 10), [])
        await pathway("POLE_EMPLOI_AG", "AG-ARRAS", date(2022, 2, 1), date(2022, 3, 10), [(date(2022, 4, 1), "CER_ACTIVE")])
        await pathway("POLE_EMPLOI_AG", "AG-LENS", date(2022, 5, 1), date(2022, 5, 10), [(date(2022, 5, 20), "BILAN")])
        await pathway("POLE_EMPLOI_AG", "AG-LENS", date(2023, 1, 2), date(2023, 1, 10), [])
    finally:
        await conn.close()
    return f"{database_url}&search_path={schema}"


async def test_b_d_f_and_the_ag_stock_are_counted_per_kind_of_referent(offers_url):
    conn = await asyncpg.connect(offers_url)
    try:
        facts = await KpiReadModel(conn, ag_counsellors=2).facts(*PERIOD)
    finally:
        await conn.close()
    assert (facts.garantie_oriented, facts.garantie_in_progress) == (2, 2)
    assert (facts.socio_pro_oriented, facts.socio_pro_in_progress) == (2, 1)
    assert (facts.plie_oriented, facts.plie_in_progress) == (0, 1)
    assert facts.global_accompaniment_in_progress == 3
    assert facts.global_by_counsellor == {"AG-ARRAS": 2, "AG-LENS": 1}
    report = build_report(facts, *PERIOD)
    per_counsellor = report.indicator(kpi.GLOBAL_PER_COUNSELLOR)
    assert (per_counsellor.value, per_counsellor.base, per_counsellor.reference_2022) == (1.5, 2, 62)
    assert report.indicator(kpi.GARANTIE_IN_PROGRESS).reference_2022 == 31339
    assert report.indicator(kpi.SOCIO_PRO_ORIENTED).reference_2022 == 9059
    assert report.indicator(kpi.PLIE_ORIENTED).reference_2022 == 1042
    assert report.indicator(kpi.GLOBAL_IN_PROGRESS).reference_2022 == 3104


async def test_report_kpi_shows_them_with_the_2022_references(offers_url):
    env = {"DATABASE_URL": offers_url}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["report", "kpi", "--from", "2022-01-01", "--to",
                                                               "2022-12-31", "--format", "json", "--ag-counsellors",
                                                               "3"], env=env)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    lines = {line["key"]: line for line in out["indicators"]}
    assert lines["global_accompaniment_per_counsellor"]["value"] == 1.0
    assert (lines["garantie_in_progress"]["count"], lines["garantie_in_progress"]["section"]) == (2, "b")
    assert (lines["plie_in_progress"]["count"], lines["plie_in_progress"]["reference_2021"]) == (1, 2884)
    assert out["global_by_counsellor"] == {"AG-ARRAS": 2, "AG-LENS": 1}
    table = await asyncio.to_thread(CliRunner().invoke, app, ["report", "kpi", "--from", "2022-01-01", "--to",
                                                              "2022-12-31"], env={**env, "COLUMNS": "250"})
    assert "31\u202f339" in table.stdout and "0,1" in table.stdout  # 3 in the AG stock / 50 counsellors
