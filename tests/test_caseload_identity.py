"""One person, one pathway (issue 19): a person adopted from a caseload by CAF matricule + rank, then brought by a
CAF flow with their NIR at that matricule and rank, stays on the adopted pathway; no pathway starts under the NIR,
and a later caseload row by NIR finds the same pathway.

Real dev server and embedded PostgreSQL, encrypted payloads; the real CaseloadImport, FluxImport and pathway.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from temporalio.service import RPCError
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.caseload_generator import write_caseload_csv
from activities.caseload_import import CaseloadImportActivities, CaseloadImporter
from activities.cnaf_parser import file_digest
from activities.flux_import import FluxImportActivities
from activities.pathway import InMemoryMonJob62, PathwayActivities, PathwayReadModel
from domain.deadlines import paris_date
from domain.identity import caf_person_id, person_id
from domain.pathway_constants import pathway_workflow_id
from domain.territory import CommuneTable
from tests.flux_import_harness import (  # noqa: F401  (enc_client: session fixture)
    enc_client,
    flux_xml,
    household_xml,
    import_input,
    signal_events,
    terminate_pathways,
)
from tests.test_caseload_cli import MAPPING
from tests.test_caseload_import import import_input as caseload_input
from tests.test_flux_import import make_nir
from workers.cli.app import app
from workers.runtime.sandbox import workflow_runner
from workflows.caseload_import import CaseloadImport, start_caseload_import
from workflows.flux_import import FluxImport, start_flux_import
from workflows.pathway import BeneficiaryPathway


def _d(day) -> str:
    return day.strftime("%d/%m/%Y")


async def test_a_nir_brought_by_a_caf_flow_joins_the_pathway_adopted_by_matricule_and_rank(
        enc_client, db_pool, database_url, task_queue, unique_id, tmp_path):
    secret = f"caseload-identity-{unique_id}".encode()  # text: the API's settings carry it as text
    rng = random.Random(unique_id)
    nir, other_nir = make_nir(rng), make_nir(rng)
    matricule = str(rng.randrange(10**6, 10**7))
    today = paris_date(datetime.now(timezone.utc))
    adopted = caf_person_id(matricule, 2, secret)  # the spouse: second person of the household
    by_nir = person_id(nir, secret)
    rows = [{"matricule": matricule, "rank": "2", "territory": "T1", "stage": "AWAITING_ORIENTATION",
             "caf_transmission_date": _d(today - timedelta(days=5))}]
    activities = [*CaseloadImportActivities(db_pool, secret).all(), *FluxImportActivities(db_pool, secret).all(),
                  *PathwayActivities(PathwayReadModel(db_pool), InMemoryMonJob62()).all()]
    people = [adopted, by_nir, person_id(other_nir, secret)]
    try:
        async with Worker(enc_client, task_queue=task_queue, workflows=[CaseloadImport, FluxImport, BeneficiaryPathway],
                          activities=activities, workflow_runner=workflow_runner()):
            caseload = write_caseload_csv(tmp_path / "caseload.csv", rows)
            result = await (await start_caseload_import(enc_client, caseload_input(caseload),
                                                        task_queue=task_queue)).result()
            assert result.adopted == 1

            for n, day in enumerate((today - timedelta(days=2), today - timedelta(days=1))):
                flow = tmp_path / f"flux-{n}.xml"
                suspension = ("06", day) if n else None
                flow.write_text(flux_xml(day, [household_xml(matricule, "4" if n else "2",
                                                             [(other_nir, True), (nir, True)], suspension=suspension)]),
                                encoding="utf-8")
                await (await start_flux_import(enc_client, import_input(flow), task_queue=task_queue)).result()

            link = await db_pool.fetchrow("SELECT * FROM caseload_person_links WHERE person_id = $1", by_nir)
            assert (link["linked_person_id"], link["pathway_id"]) == (adopted, pathway_workflow_id(adopted))
            signals = [(name, p["event_id"].rsplit(":", 1)[1]) for name, p in await signal_events(enc_client, adopted)]
            assert ("flow_record", "new_entrant") in signals and ("payment_suspended", "payment_suspended") in signals
            with pytest.raises(RPCError):  # never a second pathway under the NIR
                await enc_client.get_workflow_handle(pathway_workflow_id(by_nir)).describe()
            observed = await db_pool.fetchval("SELECT count(*) FROM flux_observations WHERE person_id = ANY($1)",
                                              [adopted, by_nir])
            assert observed == 1  # the flow's state is kept under the pathway's person id

            # The API, by NIR, names the adopted pathway (and would signal it, never start another).
            resolved = await _resolved_by_api(enc_client, db_pool, task_queue, unique_id, nir)
            assert resolved == pathway_workflow_id(adopted)

            # A later caseload row by NIR: the same person, already adopted (a changed row is refused).
            again = write_caseload_csv(tmp_path / "again.csv", [dict(rows[0], matricule="", rank="", nir=nir)])
            dry = await _dry_run(again, database_url, secret)  # says so first, nothing written
            assert (dry["identities_checked"], dry["adopted"], dry["linked"]) == (True, 0, 1)
            assert dry["outcomes"] == [{"row": 1, "outcome": "rejected", "code": "CHANGED_ROW", "stage": None,
                                        "linked": True}]
            assert not await db_pool.fetchval("SELECT count(*) FROM caseload_import_rows WHERE file_digest = $1",
                                              file_digest(again))
            same = await _dry_run(caseload, database_url, secret)
            assert [o["outcome"] for o in same["outcomes"]] == ["unchanged"]
            fresh = dict(rows[0], matricule=str(int(matricule) + 1))  # one new person, twice in a file: adopted once
            twice = await _dry_run(write_caseload_csv(tmp_path / "twice.csv", [fresh, dict(fresh, territory="T2")]),
                                   database_url, secret)
            assert [(o["outcome"], o["code"]) for o in twice["outcomes"]] == [("adopted", None),
                                                                              ("rejected", "CHANGED_ROW")]
            second = await (await start_caseload_import(enc_client, caseload_input(again),
                                                        task_queue=task_queue)).result()
            [refused] = await CaseloadImporter(db_pool, secret, enc_client).rejections(file_digest(again))
            assert (second.adopted, refused.code) == (0, "CHANGED_ROW")
            with pytest.raises(RPCError):
                await enc_client.get_workflow_handle(pathway_workflow_id(by_nir)).describe()
    finally:
        await terminate_pathways(enc_client, people)


async def test_a_flow_reaching_an_adopted_pathway_counts_it_as_known_and_keeps_its_territory(
        enc_client, db_pool, task_queue, unique_id, tmp_path):
    """Adopted by NIR, or by matricule + rank and linked by this very flow: no new pathway in the flow's counts,
    no « territory unassigned » task though the flow's commune is not in the table; a person the flow starts is."""
    secret = f"caseload-known-{unique_id}".encode()
    rng = random.Random(f"known-{unique_id}")
    by_nir, spouse, newcomer = make_nir(rng), make_nir(rng), make_nir(rng)
    first, second = str(rng.randrange(10**6, 10**7)), str(rng.randrange(10**6, 10**7))
    today = paris_date(datetime.now(timezone.utc))
    row = {"territory": "T1", "stage": "AWAITING_ORIENTATION", "caf_transmission_date": _d(today - timedelta(days=5))}
    adopted = [person_id(by_nir, secret), caf_person_id(second, 2, secret)]
    people = [*adopted, person_id(spouse, secret), person_id(newcomer, secret)]
    activities = [*CaseloadImportActivities(db_pool, secret).all(),
                  *FluxImportActivities(db_pool, secret, communes=CommuneTable.parse(["commune;territory",
                                                                                       "62041;ARRAGEOIS"])).all(),
                  *PathwayActivities(PathwayReadModel(db_pool), InMemoryMonJob62()).all()]
    try:
        async with Worker(enc_client, task_queue=task_queue, workflows=[CaseloadImport, FluxImport, BeneficiaryPathway],
                          activities=activities, workflow_runner=workflow_runner()):
            caseload = write_caseload_csv(tmp_path / "caseload.csv", [dict(row, nir=by_nir),
                                                                      dict(row, matricule=second, rank="2")])
            assert (await (await start_caseload_import(enc_client, caseload_input(caseload),
                                                       task_queue=task_queue)).result()).adopted == 2
            flow = tmp_path / "flux.xml"
            flow.write_text(flux_xml(today - timedelta(days=1), [
                household_xml(first, "2", [(by_nir, True)]),
                household_xml(second, "2", [(newcomer, True), (spouse, True)])]), encoding="utf-8")
            result = await (await start_flux_import(enc_client, import_input(flow), task_queue=task_queue)).result()

            assert result.new_pathways == 1  # the newcomer only
            tasks = await db_pool.fetch("SELECT workflow_id FROM human_tasks WHERE kind = 'TERRITORY_UNASSIGNED' "
                                        "AND workflow_id = ANY($1::text[])", [pathway_workflow_id(p) for p in people])
            assert [t["workflow_id"] for t in tasks] == [pathway_workflow_id(person_id(newcomer, secret))]
            for person in adopted:
                signals = [p["event_id"].rsplit(":", 1)[1] for _, p in await signal_events(enc_client, person)]
                assert "new_entrant" in signals
                placed = await db_pool.fetchval("SELECT territory FROM pathways WHERE pathway_id = $1",
                                                pathway_workflow_id(person))
                assert placed == "T1"
            known = await db_pool.fetch("SELECT person_id, pathway, pathway_file_digest FROM flux_observations "
                                        "WHERE person_id = ANY($1::text[])", adopted)
            assert sorted((r["person_id"], r["pathway"], r["pathway_file_digest"]) for r in known) == sorted(
                (p, True, None) for p in adopted)
    finally:
        await terminate_pathways(enc_client, people)


async def _dry_run(path, database_url: str, secret: bytes) -> dict:
    """``parcours caseload import --dry-run`` against the test's database (in a thread: the command runs its loop)."""
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["caseload", "import", str(path), "--mapping", str(MAPPING), "--dry-run", "--format",
                                  "json"], env={"DATABASE_URL": database_url, "PARCOURS_PERSON_ID_SECRET": secret.decode()})
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def _resolved_by_api(client, pool, task_queue: str, unique_id: str, nir: str) -> str:
    import httpx

    from workers.api import create_app
    from workers.api.auth import ApiTokens, Scope, token_entry
    from workers.runtime.config import Settings

    reader = token_entry("dashboard", {Scope.CASE_READ})
    settings = Settings(temporal_task_queue=task_queue, temporal_namespace=client.namespace,
                        person_id_secret=f"caseload-identity-{unique_id}")
    app = create_app(client, settings, pool, tokens=ApiTokens.parse(reader))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http:
        answer = await http.post("/v1/pathways/resolve", json={"nir": nir}, headers={
            "Authorization": f"Bearer {reader.split(':')[1]}", "Idempotency-Key": f"{unique_id}-resolve"})
    assert answer.status_code == 200, answer.text
    return answer.json()["pathway_id"]


async def _adoption(pool, person: str, caf_key: str) -> None:
    await pool.execute(
        """INSERT INTO caseload_adoptions (person_id, pathway_id, file_digest, row_number, row_digest, source, stage,
               adopted_on, past_breaches, status, caf_key) VALUES ($1, $2, $3, 1, 'r', 'CASELOAD',
               'AWAITING_ORIENTATION', current_date, true, 'started', $4)""",
        person, pathway_workflow_id(person), "0" * 64, caf_key)


async def test_a_link_is_made_only_when_unambiguous_else_a_person_merges(db_pool, unique_id):
    from activities.person_links import TWO_PATHWAYS, PersonLinks

    links = PersonLinks(db_pool)
    key, twice = f"k-{unique_id}", f"k2-{unique_id}"
    await _adoption(db_pool, key, key)  # adopted by matricule + rank: its id is the key
    await _adoption(db_pool, f"a-{unique_id}", twice)  # two adoptions under one key: ambiguous
    await _adoption(db_pool, f"b-{unique_id}", twice)
    own = f"nir-own-{unique_id}"  # a NIR whose own pathway a flow started
    await db_pool.execute("""INSERT INTO flux_observations (person_id, state, pathway, file_digest, position)
                             VALUES ($1, '{}'::jsonb, true, $2, 1)""", own, "0" * 64)
    fresh, ambiguous = f"nir-{unique_id}", f"nir-2-{unique_id}"

    asked = [(own, key), (fresh, key), (ambiguous, twice), (key, key)]
    assert await links.resolve(asked, "f" * 64, record=False) == {fresh: key}  # a dry run: found, not written
    assert not await db_pool.fetchval("SELECT count(*) FROM caseload_person_links WHERE person_id = $1", fresh)
    assert not await db_pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1",
                                      pathway_workflow_id(key))
    resolved = await links.resolve(asked, "f" * 64)
    assert resolved == {fresh: key}  # the adopted pathway itself, the ambiguous key and the NIR with its own: theirs
    assert await links.resolve([(fresh, None)], "e" * 64) == {fresh: key}  # known from now on, by NIR alone
    tasks = await db_pool.fetch("SELECT workflow_id, kind, details FROM human_tasks WHERE kind = $1 AND workflow_id = $2",
                                TWO_PATHWAYS, pathway_workflow_id(key))
    assert [(t["workflow_id"], t["kind"]) for t in tasks] == [(pathway_workflow_id(key), TWO_PATHWAYS)]
    assert pathway_workflow_id(own) in tasks[0]["details"]
