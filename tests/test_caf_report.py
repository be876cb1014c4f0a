"""§3.7, G-C3, G-C8: the CAF's quota and counts per referent id and per ETP (API, CLI), and the annual report
built each 31 January, stored and read back."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import httpx
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.caf_report import CafReportActivities, CafReportStore
from domain.caf_report import CafFacts, CafReportRequest, build_caf_report, report_year
from domain.rules import CAF_CONVENTION_2023
from workers.api import create_app
from workers.api.auth import ApiTokens, Scope, token_entry
from workers.cli.app import app as cli
from workers.runtime.config import Settings
from workers.runtime.converter import data_converter
from workers.dev.embedded import binary
from workers.runtime.sandbox import workflow_runner
from workflows.caf_report import CafAnnualReport

YEAR = 2031  # a year no other test writes CAF CERs in
READER = token_entry("caf-reader", {Scope.CASE_READ})
WRITER = token_entry("events", {Scope.PATHWAY_EVENTS})


def test_G_C3_quota_per_etp_and_per_referent_against_the_convention():
    facts = CafFacts(year=2023, accompaniments=1040, by_structure={"CAF62-TS-1": 25, "CAF62-TS-2": 12})
    report = build_caf_report(facts, CAF_CONVENTION_2023)
    assert (report.etp, report.per_etp, report.per_etp_reached, report.year_reached) == (65, 16.0, False, False)
    assert report.widening_possible and report.due_on == date(2024, 1, 31) and report.reference_2022 == 1022
    assert [(s.structure_id, s.reached) for s in report.structures] == [("CAF62-TS-1", True), ("CAF62-TS-2", False)]
    assert build_caf_report(facts, CAF_CONVENTION_2023, etp=50).per_etp_reached  # 20.8 per ETP
    assert report_year(date(2032, 1, 31)) == 2031


@pytest_asyncio.fixture
async def caf_rows(db_pool):
    """Three CAF pathways of YEAR (two referent ids), one renewal, one exit, one accepted saisine."""
    tag = uuid.uuid4().hex[:8]
    ids = [f"pathway-{tag}{n:024d}" for n in range(3)]
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM pathway_cers WHERE referent_type = 'CAF' AND start_on >= $1", date(YEAR, 1, 1))
        await conn.execute("DELETE FROM caf_annual_reports WHERE year = $1", YEAR)
        for n, pid in enumerate(ids):
            await conn.execute(
                """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, referent_type,
                       caf_saisine_mode, closed_on, exit_reason, version)
                   VALUES ($1, $2, 'ARRAGEOIS', '2023.1', $3, 'CAF', 'M1', $4, $5, 1)""",
                pid, pid.removeprefix("pathway-"), "CLOSED" if n == 2 else "CER_ACTIVE",
                date(YEAR, 11, 1) if n == 2 else None, "FIN_ACCOMPAGNEMENT" if n == 2 else None)
            await conn.execute(
                """INSERT INTO stage_changes (pathway_id, seq, from_stage, to_stage, changed_on, cause)
                   VALUES ($1, 1, 'CAF_SAISINE', 'REFERENT_DESIGNATED', $2, 'CAF_SAISINE_ACCEPTED')""",
                pid, date(YEAR, 2, 1))
            await conn.execute(
                """INSERT INTO pathway_cers (pathway_id, cer_id, cer_type, start_on, end_on, signed_on, renewal,
                       action_count, referent_type, structure_id, physical_appointments, version, gesica_domain)
                   VALUES ($1, 'c1', 'SOLIDARITE', $2, $3, $2, false, 1, 'CAF', $4, $5, 1, 'BUDGET')""",
                pid, date(YEAR, 2, 1), date(YEAR, 8, 1), f"CAF62-{tag}-{'A' if n < 2 else 'B'}", 3 if n == 0 else 1)
    yield tag, ids
    async with db_pool.acquire() as conn:
        for table in ("pathway_cers", "stage_changes", "pathways"):
            await conn.execute(f"DELETE FROM {table} WHERE pathway_id = ANY($1::text[])", ids)
        await conn.execute("DELETE FROM caf_annual_reports WHERE year = $1", YEAR)


async def test_section_3_7_counts_per_referent_id_from_the_read_model(db_pool, caf_rows):
    tag, _ = caf_rows
    report = await CafReportStore(db_pool).report(YEAR)
    assert report.accompaniments == 3 and report.convention == "CAF-2023"  # carried forward (G-C1)
    assert {s.structure_id: s.accompaniments for s in report.structures} == {f"CAF62-{tag}-A": 2, f"CAF62-{tag}-B": 1}
    f = report.facts
    assert (f.cers_signed, f.cers_ended, f.cers_ended_with_3_physical) == (3, 3, 1)
    assert f.saisines_by_mode == {"M1": 3} and f.exits_by_reason == {"FIN_ACCOMPAGNEMENT": 1}
    assert f.cers_by_gesica_domain == {"BUDGET": 3}


async def test_G_C8_annual_report_built_stored_and_read_back_by_the_api_and_the_cli(db_pool, caf_rows, test_keyring,
                                                                                  database_url):
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=binary("temporal-test-server"),
                                                        data_converter=data_converter(test_keyring))
    try:
        async with Worker(env.client, task_queue="caf-report", workflows=[CafAnnualReport],
                          activities=CafReportActivities(db_pool).all(), workflow_runner=workflow_runner()):
            built = await env.client.execute_workflow(CafAnnualReport.run, CafReportRequest(year=YEAR),
                                                      id=f"caf-annual-report-{YEAR}", task_queue="caf-report")
    finally:
        await env.shutdown()
    assert built.accompaniments == 3 and built.due_on == date(YEAR + 1, 1, 31)
    app = create_app(None, Settings(), db_pool, tokens=ApiTokens.parse(",".join((READER, WRITER))))  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {READER.split(':')[1]}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as api:
        stored = await api.get(f"/v1/caf/reports/{YEAR}", headers=auth)
        assert stored.status_code == 200 and stored.json()["accompaniments"] == 3
        assert (await api.get(f"/v1/caf/reports/{YEAR + 1}", headers=auth)).status_code == 404
        quota = await api.get("/v1/caf/quota", params={"year": YEAR, "etp": 1}, headers=auth)
        assert quota.status_code == 200 and quota.json()["per_etp"] == 3.0 and not quota.json()["per_etp_reached"]
        assert (await api.get("/v1/caf/quota", params={"year": 1900}, headers=auth)).status_code == 422
        wrong = {"Authorization": f"Bearer {WRITER.split(':')[1]}"}
        assert (await api.get("/v1/caf/quota", params={"year": YEAR}, headers=wrong)).status_code == 403
    async def parcours(*args: str):
        return await asyncio.to_thread(CliRunner().invoke, cli, ["report", "caf", *args],
                                       env={"DATABASE_URL": database_url})

    out = await parcours("--year", str(YEAR), "--stored", "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["structures"][0]["accompaniments"] == 2
    assert (await parcours("--year", str(YEAR + 1), "--stored")).exit_code == 1
    out = await parcours("--year", str(YEAR))
    assert out.exit_code == 0 and "accompaniments 3 / 1300" in out.output


async def test_G_C8_caf_report_schedule_is_due_each_31_january(dev_env, task_queue, unique_id):
    from workers.cli.schedule import install_caf_report_schedule

    client: Client = dev_env.client
    schedule_id = f"caf-{unique_id}"
    assert await install_caf_report_schedule(client, task_queue=task_queue, schedule_id=schedule_id) == "created"
    handle = client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        assert description.schedule.action.workflow == "CafAnnualReport"
        from domain.deadlines import paris_date
        assert all((paris_date(t).month, paris_date(t).day) == (1, 31) for t in description.info.next_action_times)
    finally:
        await handle.delete()
