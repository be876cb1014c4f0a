"""A flow re-entering a person whose pathway was adopted (issue 19), as for one a flow started (T25, G-B15):

* closed within its re-entry window (6 months from the end of payment): the flow reaches the adopted pathway, which
  resumes with the same referent; a known pathway, not a new one;
* finished (closed for good: a bilan « end » here, never reached by a flow): the entry starts a new pathway under
  the same id, counted among the file's new pathways, placed by the commune table (else a « territory
  unassigned » task), its read model taking over the former one's row; exactly as for a pathway a flow started
  and whose closure finished it.

Real dev server and embedded PostgreSQL, encrypted payloads; the real CaseloadImport, FluxImport and pathway.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, timedelta, timezone

from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.caseload_generator import caseload_row, write_caseload_csv
from activities.caseload_import import CaseloadImportActivities
from activities.flux_import import FluxImportActivities
from activities.pathway import InMemoryMonJob62, PathwayActivities, PathwayReadModel
from activities.person_links import PersonLinks
from domain.deadlines import add_months, paris_date
from domain.identity import person_id
from domain.pathway import AppointmentEvent, AppointmentKind, BilanDecision, CompleteBilan, Stage
from domain.pathway_contract import Signal, Update
from domain.pathway_constants import pathway_workflow_id
from domain.territory import CommuneTable
from tests.flux_import_harness import (  # noqa: F401  (enc_client: session fixture)
    enc_client,
    flux_xml,
    household_xml,
    import_input,
    terminate_pathways,
)
from tests.test_caseload_import import import_input as caseload_input
from tests.test_flux_import import make_nir
from workers.runtime.sandbox import workflow_runner
from workflows.caseload_import import CaseloadImport, start_caseload_import
from workflows.flux_import import FluxImport, start_flux_import
from workflows.pathway import BeneficiaryPathway


async def _until(check, attempts: int = 300):
    for _ in range(attempts):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition never held")


async def _closed_for_good(client, pool, person: str) -> int:
    """Wait until the person's pathway run is over and its read model says closed; its version."""
    handle = client.get_workflow_handle(pathway_workflow_id(person))

    async def over():
        if (await handle.describe()).status is not WorkflowExecutionStatus.COMPLETED:
            return None
        return await pool.fetchval("SELECT version FROM pathways WHERE pathway_id = $1 AND closed_on IS NOT NULL",
                                   pathway_workflow_id(person))
    return await _until(over)


async def test_a_flow_reentry_resumes_a_pathway_in_its_window_and_starts_anew_after_it_finished(
        enc_client, db_pool, task_queue, unique_id, tmp_path):
    secret = f"caseload-reentry-{unique_id}".encode()
    rng = random.Random(f"reentry-{unique_id}")
    finished_nir, window_nir, flowed_nir = make_nir(rng), make_nir(rng), make_nir(rng)
    finished, window, flowed = (person_id(n, secret) for n in (finished_nir, window_nir, flowed_nir))
    matricules = [str(rng.randrange(10**6, 10**7)) for _ in range(3)]
    before_closures = datetime.now(timezone.utc)
    today = paris_date(before_closures)
    bilan = dict(caseload_row(Stage.BILAN, 0, today, rng, extras=False), nir=finished_nir, territory="T1")
    closed = dict(caseload_row(Stage.CLOSED, 1, today, rng, extras=False), nir=window_nir, territory="T1")
    activities = [*CaseloadImportActivities(db_pool, secret).all(),
                  *FluxImportActivities(db_pool, secret, communes=CommuneTable.parse(["commune;territory",
                                                                                       "62041;ARRAGEOIS"])).all(),
                  *PathwayActivities(PathwayReadModel(db_pool), InMemoryMonJob62()).all()]
    people = [finished, window, flowed]
    try:
        async with Worker(enc_client, task_queue=task_queue, workflows=[CaseloadImport, FluxImport, BeneficiaryPathway],
                          activities=activities, workflow_runner=workflow_runner()):
            caseload = write_caseload_csv(tmp_path / "caseload.csv", [bilan, closed])
            assert (await (await start_caseload_import(enc_client, caseload_input(caseload),
                                                       task_queue=task_queue)).result()).adopted == 2
            # The adopted BILAN ends the accompaniment: closed for good, no flow has reached it.
            adopted_run = enc_client.get_workflow_handle(pathway_workflow_id(finished))
            first_run = (await adopted_run.describe()).run_id
            await adopted_run.execute_update(Update.COMPLETE_BILAN, CompleteBilan(
                event_id="bilan-end", completed_on=today, decision=BilanDecision.END))
            finished_version = await _closed_for_good(enc_client, db_pool, finished)

            # A pathway a flow started, whose closure (end of payment 8 months ago) finished it at once.
            async def flow(day: date, households: list[str], name: str):
                path = tmp_path / name
                path.write_text(flux_xml(day, households), encoding="utf-8")
                return await (await start_flux_import(enc_client, import_input(path), task_queue=task_queue)).result()
            assert (await flow(today - timedelta(days=3), [household_xml(matricules[2], "2", [(flowed_nir, True)])],
                               "f1.xml")).new_pathways == 1
            await flow(today - timedelta(days=2), [household_xml(matricules[2], "5", [(flowed_nir, True)],
                                                                 closure=("PCG", add_months(today, -8)))], "f2.xml")
            flowed_version = await _closed_for_good(enc_client, db_pool, flowed)
            # A flow slice plans from rows written before it was first scheduled: a retry of a slice whose own
            # signals closed these pathways plans as its first attempt did (known, not started anew).
            links = PersonLinks(db_pool)
            assert set(await links.finished([finished, flowed])) == {finished, flowed}
            assert await links.finished([finished, flowed], written_before=before_closures) == {}

            back = tmp_path / "back.xml"
            result = await flow(today - timedelta(days=1), [
                household_xml(matricules[0], "2", [(finished_nir, True)]),
                household_xml(matricules[1], "2", [(window_nir, True)]),
                household_xml(matricules[2], "2", [(flowed_nir, True)])], back.name)

            assert result.new_pathways == 2  # the two finished pathways start anew; the one in its window resumes
            new_rows = {r["pathway_id"]: r for r in await _until(lambda: _rows_after(
                db_pool, {finished: finished_version, flowed: flowed_version}))}
            for person in (finished, flowed):
                row = new_rows[pathway_workflow_id(person)]
                assert (row["stage"], row["closed_on"], row["territory"]) == ("AWAITING_ORIENTATION", None,
                                                                            "UNASSIGNED")
            described = await adopted_run.describe()
            assert described.run_id != first_run and described.status is WorkflowExecutionStatus.RUNNING
            tasks = await db_pool.fetch("SELECT workflow_id FROM human_tasks WHERE kind = 'TERRITORY_UNASSIGNED' "
                                        "AND workflow_id = ANY($1::text[])", [pathway_workflow_id(p) for p in people])
            assert sorted(t["workflow_id"] for t in tasks) == sorted(pathway_workflow_id(p) for p in (finished, flowed))
            observed = {r["person_id"]: (r["pathway"], r["pathway_file_digest"]) for r in await db_pool.fetch(
                "SELECT person_id, pathway, pathway_file_digest FROM flux_observations WHERE person_id = ANY($1)",
                people)}
            back_digest = import_input(back).file_digest
            assert observed[finished] == (True, back_digest) and observed[flowed] == (True, back_digest)
            assert observed[window] == (True, None)  # known: the adopted pathway, reached for the first time

            async def resumed():
                row = await db_pool.fetchrow("SELECT stage, closed_on, territory FROM pathways WHERE pathway_id = $1",
                                             pathway_workflow_id(window))
                return row if row["stage"] != "CLOSED" else None
            row = await _until(resumed)
            assert (row["closed_on"], row["territory"]) == (None, "T1")  # T25: the same pathway, its referent kept
    finally:
        await terminate_pathways(enc_client, people)


async def _rows_after(pool, versions: dict[str, int]):
    """The new pathways' read-model rows, once both are written above the former pathways' versions."""
    rows = await pool.fetch("SELECT pathway_id, person_id, stage, closed_on, territory, version FROM pathways "
                            "WHERE pathway_id = ANY($1::text[])", [pathway_workflow_id(p) for p in versions])
    fresh = [r for r in rows if r["version"] > versions[r["person_id"]]]
    return fresh if len(fresh) == len(versions) else None


async def test_the_api_starting_a_person_whose_pathway_finished_writes_the_new_one_in_the_read_model(
        enc_client, db_pool, task_queue, unique_id, tmp_path):
    """``POST /v1/pathways`` after the adopted pathway finished: a new pathway, its read model above the former's;
    ``GET /v1/pathways/{id}`` shows the new pathway's anomalies only, not the former's under the same id."""
    import httpx

    from workers.api import create_app
    from workers.api.auth import ApiTokens, Scope, token_entry
    from workers.runtime.config import Settings

    secret_text = f"caseload-reentry-api-{unique_id}"
    rng = random.Random(f"reentry-api-{unique_id}")
    nir = make_nir(rng)
    person = person_id(nir, secret_text.encode())
    today = paris_date(datetime.now(timezone.utc))
    activities = [*CaseloadImportActivities(db_pool, secret_text.encode()).all(),
                  *PathwayActivities(PathwayReadModel(db_pool), InMemoryMonJob62()).all()]
    starter = token_entry("flows", {Scope.PATHWAY_START})
    reader = token_entry("dashboard", {Scope.CASE_READ})
    settings = Settings(temporal_task_queue=task_queue, temporal_namespace=enc_client.namespace,
                        person_id_secret=secret_text)
    app = create_app(enc_client, settings, db_pool, tokens=ApiTokens.parse(f"{starter},{reader}"))
    try:
        async with Worker(enc_client, task_queue=task_queue, workflows=[CaseloadImport, BeneficiaryPathway],
                          activities=activities, workflow_runner=workflow_runner()):
            row = dict(caseload_row(Stage.BILAN, 0, today, rng, extras=False), nir=nir, territory="T1")
            caseload = write_caseload_csv(tmp_path / "caseload.csv", [row])
            assert (await (await start_caseload_import(enc_client, caseload_input(caseload),
                                                       task_queue=task_queue)).result()).adopted == 1
            pathway = enc_client.get_workflow_handle(pathway_workflow_id(person))
            former_anomaly = await _refused(pathway, db_pool, "missed-former")
            await pathway.execute_update(
                Update.COMPLETE_BILAN, CompleteBilan(event_id="bilan-end", completed_on=today,
                                                     decision=BilanDecision.END))
            former = await _closed_for_good(enc_client, db_pool, person)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http:
                answer = await http.post("/v1/pathways", json={
                    "nir": nir, "territory": "T2", "transmission_date": today.isoformat(), "subject_to_duties": True},
                    headers={"Authorization": f"Bearer {starter.split(':')[1]}",
                             "Idempotency-Key": f"{unique_id}-back"})
            assert answer.status_code == 202, answer.text
            [row] = await _until(lambda: _rows_after(db_pool, {person: former}))
            assert (row["stage"], row["closed_on"], row["territory"]) == ("AWAITING_ORIENTATION", None, "T2")

            async def anomalies() -> list[dict]:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http:
                    case = await http.get(f"/v1/pathways/{pathway.id}",
                                          headers={"Authorization": f"Bearer {reader.split(':')[1]}"})
                assert case.status_code == 200, case.text
                return case.json()["anomalies"]
            assert await anomalies() == []  # the former pathway's stays in the table, not shown as this one's
            new_anomaly = await _refused(pathway, db_pool, "missed-new")
            assert [(a["anomaly_id"], a["stage"]) for a in await anomalies()] == [(new_anomaly,
                                                                                  "AWAITING_ORIENTATION")]
            assert await db_pool.fetchval("SELECT count(*) FROM pathway_anomalies WHERE pathway_id = $1 "
                                          "AND anomaly_id = $2", pathway.id, former_anomaly) == 1
    finally:
        await terminate_pathways(enc_client, [person])


async def test_a_caseload_row_adopts_a_person_whose_pathway_finished_and_not_one_in_its_window(
        enc_client, db_pool, database_url, task_queue, unique_id, tmp_path):
    """A row for a person whose flow-started pathway has finished is adopted as a new pathway under the same id, its
    read model above the former's; one whose pathway is closed within its re-entry window is still refused
    (``PATHWAY_EXISTS``). The dry run against the database judges both rows the same way."""
    from tests.test_caseload_identity import _dry_run

    secret = f"caseload-readopt-{unique_id}".encode()
    rng = random.Random(f"readopt-{unique_id}")
    finished_nir, window_nir = make_nir(rng), make_nir(rng)
    finished, window = person_id(finished_nir, secret), person_id(window_nir, secret)
    matricules = [str(rng.randrange(10**6, 10**7)) for _ in range(2)]
    today = paris_date(datetime.now(timezone.utc))
    activities = [*CaseloadImportActivities(db_pool, secret).all(), *FluxImportActivities(db_pool, secret).all(),
                  *PathwayActivities(PathwayReadModel(db_pool), InMemoryMonJob62()).all()]
    try:
        async with Worker(enc_client, task_queue=task_queue, workflows=[CaseloadImport, FluxImport, BeneficiaryPathway],
                          activities=activities, workflow_runner=workflow_runner()):
            async def flow(day: date, households: list[str], name: str):
                path = tmp_path / name
                path.write_text(flux_xml(day, households), encoding="utf-8")
                return await (await start_flux_import(enc_client, import_input(path), task_queue=task_queue)).result()
            assert (await flow(today - timedelta(days=3), [household_xml(m, "2", [(n, True)]) for m, n in
                                                          zip(matricules, (finished_nir, window_nir))], "f1.xml")
                    ).new_pathways == 2
            await flow(today - timedelta(days=2), [
                household_xml(matricules[0], "5", [(finished_nir, True)], closure=("PCG", add_months(today, -8))),
                household_xml(matricules[1], "5", [(window_nir, True)], closure=("PCG", add_months(today, -1)))],
                "f2.xml")
            former = await _closed_for_good(enc_client, db_pool, finished)
            await _until(lambda: db_pool.fetchval("SELECT closed_on FROM pathways WHERE pathway_id = $1",
                                                  pathway_workflow_id(window)))
            first_run = (await enc_client.get_workflow_handle(pathway_workflow_id(finished)).describe()).run_id

            rows = [dict(caseload_row(Stage.BILAN, i, today, rng, extras=False), nir=nir, territory="T1")
                    for i, nir in enumerate((finished_nir, window_nir))]
            caseload = write_caseload_csv(tmp_path / "caseload.csv", rows)
            dry = await _dry_run(caseload, database_url, secret)
            assert [(o["row"], o["outcome"], o["code"]) for o in dry["outcomes"]] == [
                (1, "adopted", None), (2, "rejected", "PATHWAY_EXISTS")]
            result = await (await start_caseload_import(enc_client, caseload_input(caseload),
                                                        task_queue=task_queue)).result()
            assert (result.adopted, result.rejected) == (1, 1)
            rejected = await db_pool.fetch("SELECT row_number, code FROM caseload_import_rows WHERE file_digest = $1 "
                                           "AND outcome = 'rejected'", caseload_input(caseload).file_digest)
            assert [(r["row_number"], r["code"]) for r in rejected] == [(2, "PATHWAY_EXISTS")]

            [row] = await _until(lambda: _rows_after(db_pool, {finished: former}))
            assert (row["stage"], row["closed_on"], row["territory"]) == ("BILAN", None, "T1")
            described = await enc_client.get_workflow_handle(pathway_workflow_id(finished)).describe()
            assert described.run_id != first_run and described.status is WorkflowExecutionStatus.RUNNING
            assert await db_pool.fetchval("SELECT status FROM caseload_adoptions WHERE person_id = $1",
                                          window) is None  # the refused row leaves no ledger row
    finally:
        await terminate_pathways(enc_client, [finished, window])


async def _refused(pathway, pool, event_id: str) -> str:
    """A MISSED appointment no appointment was fixed for: refused, kept as an anomaly; its id once written."""
    await pathway.signal(Signal.APPOINTMENT, AppointmentEvent(event_id=event_id, kind=AppointmentKind.MISSED,
                                                              appointment_date=paris_date(datetime.now(timezone.utc))))
    return await _until(lambda: pool.fetchval("SELECT anomaly_id FROM pathway_anomalies WHERE pathway_id = $1 "
                                              "AND event_id = $2", pathway.id, event_id))
