"""``CaseloadImport`` on the time-skipping server with the real worker and read model (issue 19): a generated
caseload across every adoptable stage is adopted with each pathway at its stage and its next deadline what the rules
compute from the row's dates; rejected rows are kept with their reasons; a re-import changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.caseload_file import load_caseload_mapping
from activities.caseload_generator import caseload_rows, write_caseload_csv
from activities.caseload_import import CaseloadImportActivities, CaseloadImporter
from activities.cnaf_parser import file_digest
from activities.pathway import InMemoryMonJob62, PathwayActivities, PathwayReadModel
from domain.caseload import ADOPTABLE_STAGES
from domain.caseload_import import CaseloadImportInput
from domain.deadlines import paris_date
from domain.pathway import FlowRecord
from tests.test_caseload import expected_next_due
from workers.runtime.sandbox import workflow_runner
from workflows.caseload_import import CaseloadImport, start_caseload_import
from workflows.pathway import BeneficiaryPathway

FIXTURES = Path(__file__).parent / "fixtures" / "caseload"
CASES = int(os.environ.get("CASELOAD_TEST_CASES", "1000"))
BAD_ROWS = [  # (fields, code)
    ({"nir": "1850575123456", "territory": "T1", "stage": "CER_ACTIVE", "caf_transmission_date": "01/01/2026",
      "orientation_notified_on": "20/01/2026", "orientation_target": "REFERENT_SOCIOPRO", "referent_structure": "S1",
      "cer_start": "01/02/2026", "cer_end": "01/12/2026"}, "CER_TOO_LONG"),
    ({"matricule": "77", "rank": "1", "territory": "T1", "stage": "AWAITING_ORIENTATION",
      "caf_transmission_date": "01/01/2026", "referent_designated_on": "02/01/2026"}, "REFERENT_WITHOUT_ORIENTATION"),
    ({"matricule": "78", "rank": "1", "territory": "T1", "stage": "AWAITING_ORIENTATION",
      "caf_transmission_date": "01/01/2099"}, "DATE_IMPLAUSIBLE"),
    ({"matricule": "79", "rank": "1", "territory": "T1", "stage": "NOWHERE", "caf_transmission_date": "01/01/2026"},
     "UNKNOWN_STAGE"),
    ({"matricule": "80", "rank": "1", "territory": "T1", "stage": "DETECTED", "caf_transmission_date": "01/01/2026"},
     "STAGE_NOT_ADOPTABLE"),
    ({"matricule": "81", "rank": "1", "territory": "T1", "stage": "CLOSED", "caf_transmission_date": "01/01/2025",
      "end_of_payment": "01/02/2025"}, "CLOSED_FOR_GOOD"),
    ({"matricule": "82", "rank": "1", "territory": "T1", "stage": "NON_COMPLIANCE_EP",
      "caf_transmission_date": "01/01/2026", "held_stage": "AWAITING_ORIENTATION", "non_compliance_kind": "NON_ADHESION"},
     "FIELD_MISSING"),
]


@asynccontextmanager
async def caseload_worker(env, task_queue: str, pool, secret: bytes):
    activities = [*PathwayActivities(PathwayReadModel(pool), InMemoryMonJob62()).all(),
                  *CaseloadImportActivities(pool, secret, env.client).all()]
    async with Worker(env.client, task_queue=task_queue, workflows=[BeneficiaryPathway, CaseloadImport],
                      activities=activities, workflow_runner=workflow_runner(), max_concurrent_activities=20):
        yield


def import_input(path: Path, **options) -> CaseloadImportInput:
    mapping = load_caseload_mapping(FIXTURES / "mapping.toml")
    return CaseloadImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name,
                               mapping=mapping.model_dump(), **options)


async def read_model(pool, pathway_ids: list[str]) -> dict[str, tuple[str, object]]:
    rows = await pool.fetch("SELECT pathway_id, stage, next_deadline FROM pathways WHERE pathway_id = ANY($1)",
                            pathway_ids)
    return {r["pathway_id"]: (r["stage"], r["next_deadline"]) for r in rows}


async def adopted_ids(pool, digest: str) -> dict[int, str]:
    rows = await pool.fetch("SELECT row_number, pathway_id FROM caseload_import_rows WHERE file_digest = $1 "
                            "AND outcome <> 'rejected'", digest)
    return {r["row_number"]: r["pathway_id"] for r in rows}


async def test_a_caseload_is_adopted_at_its_stages_with_its_deadlines(ts_env, db_pool, task_queue, unique_id, tmp_path):
    secret = hashlib.sha256(unique_id.encode()).digest()
    today = paris_date(datetime.now(timezone.utc))
    rows = caseload_rows(CASES, today, seed=int(unique_id[:6], 16))
    path = write_caseload_csv(tmp_path / "caseload.csv", rows + [fields for fields, _ in BAD_ROWS])
    inp = import_input(path, batch_size=max(CASES // 6, 1), slices_per_run=3)
    async with caseload_worker(ts_env, task_queue, db_pool, secret):
        handle = await start_caseload_import(ts_env.client, inp, task_queue=task_queue)
        result = await handle.result()
        bad = len(BAD_ROWS)
        assert (result.status, result.total, result.adopted, result.rejected) == ("done", CASES + bad, CASES, bad)

        ids = await adopted_ids(db_pool, inp.file_digest)
        assert len(set(ids.values())) == CASES
        for _ in range(600):  # the pathways write their first row in their first workflow task
            seen = await read_model(db_pool, list(ids.values()))
            if len(seen) == CASES:
                break
            await asyncio.sleep(0.2)
        for number, row in enumerate(rows, start=1):
            stage, next_deadline = seen[ids[number]]
            assert (stage, next_deadline) == (row["stage"], expected_next_due(row)), (number, row)
        assert {r["stage"] for r in rows} == {s.value for s in ADOPTABLE_STAGES}

        rejected = await CaseloadImporter(db_pool, secret, ts_env.client).rejections(inp.file_digest)
        assert [(r.row, r.code) for r in rejected] == [(CASES + i, code) for i, (_, code) in enumerate(BAD_ROWS, 1)]
        assert all(r.reason for r in rejected) and not any("1850575123456" in r.reason for r in rejected)

        view = await ts_env.client.get_workflow_handle(ids[1]).query(BeneficiaryPathway.view)
        assert view.stage_history[-1].cause == "ADOPTED"
        described = await ts_env.client.get_workflow_handle(ids[1]).describe()
        assert await described.memo_value("caseload") == f"{inp.file_digest[:16]}:1"

        # The same rows again (another file: reordered, one row changed): nothing is started twice.
        changed = dict(rows[0], territory="T9")
        again = write_caseload_csv(tmp_path / "again.csv", [changed, *reversed(rows[1:])])
        second = await (await start_caseload_import(ts_env.client, import_input(again), task_queue=task_queue)).result()
        assert (second.adopted, second.unchanged, second.rejected) == (0, CASES - 1, 1)
        [refused] = await CaseloadImporter(db_pool, secret, ts_env.client).rejections(file_digest(again))
        assert (refused.row, refused.code) == (1, "CHANGED_ROW")
        assert await db_pool.fetchval("SELECT count(*) FROM caseload_adoptions WHERE pathway_id = ANY($1)",
                                      list(ids.values())) == CASES

        # --update: a changed row re-adopts its pathway; one that received an event since its adoption is refused.
        await ts_env.client.get_workflow_handle(ids[2]).signal(
            "flow_record", FlowRecord(event_id="moved-1", transmission_date=today, subject_to_duties=True))
        update = write_caseload_csv(tmp_path / "update.csv", [changed, dict(rows[1], territory="T9"), *rows[2:]])
        third = await (await start_caseload_import(ts_env.client, import_input(update, update=True),
                                                   task_queue=task_queue)).result()
        assert (third.adopted, third.updated, third.unchanged, third.rejected) == (0, 1, CASES - 2, 1)
        [moved] = await CaseloadImporter(db_pool, secret, ts_env.client).rejections(file_digest(update))
        assert (moved.row, moved.code) == (2, "PATHWAY_MOVED")
        for _ in range(300):
            territory = await db_pool.fetchval("SELECT territory FROM pathways WHERE pathway_id = $1", ids[1])
            if territory == "T9":
                break
            await asyncio.sleep(0.1)
        assert territory == "T9"
        assert await db_pool.fetchval("SELECT file_digest FROM caseload_adoptions WHERE pathway_id = $1",
                                      ids[1]) == file_digest(update)
        pending = await db_pool.fetch("SELECT kind FROM deadlines WHERE pathway_id = $1 AND status = 'PENDING'", ids[1])
        kinds = [r["kind"] for r in pending]  # the first adoption's clocks are gone: each clock once
        assert "ORIENTATION" in kinds and len(kinds) == len(set(kinds))
        for pathway_id in ids.values():
            await ts_env.client.get_workflow_handle(pathway_id).terminate("test over")


async def test_the_api_takes_the_file_and_reports_its_status(ts_env, db_pool, task_queue, unique_id, tmp_path,
                                                             monkeypatch):
    import httpx

    from workers.api import create_app
    from workers.api.auth import ApiTokens, Scope, token_entry
    from workers.runtime.config import Settings

    secret = hashlib.sha256(unique_id.encode()).digest()
    monkeypatch.setenv("PARCOURS_DROP_DIR", str(tmp_path / "drop"))
    today = paris_date(datetime.now(timezone.utc))
    rows = caseload_rows(14, today, seed=int(unique_id[:6], 16) + 1)
    path = write_caseload_csv(tmp_path / "api.csv", rows + [BAD_ROWS[0][0]])
    mapping = json.dumps(load_caseload_mapping(FIXTURES / "mapping.toml").model_dump())  # ASCII: \u escapes
    admin = token_entry("dpt", {Scope.PATHWAY_START})
    reader = token_entry("dashboard", {Scope.CASE_READ})
    settings = Settings(temporal_task_queue=task_queue, temporal_namespace=ts_env.client.namespace)
    app = create_app(ts_env.client, settings, db_pool, tokens=ApiTokens.parse(f"{admin},{reader}"))
    auth = {"Authorization": f"Bearer {admin.split(':')[1]}", "Idempotency-Key": unique_id}
    async with caseload_worker(ts_env, task_queue, db_pool, secret):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http:
            assert (await http.post("/v1/caseload-imports", content=b"x;y\n1;2\n",
                                    headers={**auth, "X-Caseload-Mapping": mapping})).status_code == 422
            assert not list((tmp_path / "drop").glob("caseload-*"))  # a refused upload is not kept
            started = await http.post("/v1/caseload-imports", content=path.read_bytes(),
                                      headers={**auth, "X-Caseload-Mapping": mapping, "Content-Type": "text/csv"})
            assert started.status_code == 202, started.text
            import_id = started.json()["id"]
            assert import_id == f"caseload-import-{file_digest(path)}"
            retried = await http.post("/v1/caseload-imports", content=path.read_bytes(),
                                      headers={**auth, "X-Caseload-Mapping": mapping, "Content-Type": "text/csv"})
            assert (retried.status_code, retried.headers["Idempotent-Replayed"], retried.json()) == (
                202, "true", started.json())
            reused = await http.post("/v1/caseload-imports", params={"update": "true"}, content=path.read_bytes(),
                                     headers={**auth, "X-Caseload-Mapping": mapping, "Content-Type": "text/csv"})
            assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
            with pytest.raises(RPCError):  # the reused key started nothing
                await ts_env.client.get_workflow_handle(f"{import_id}-update").describe()
            await ts_env.client.get_workflow_handle(import_id).result()
            read = {"Authorization": f"Bearer {reader.split(':')[1]}"}
            status = (await http.get(f"/v1/caseload-imports/{import_id}", headers=read)).json()
            assert (status["status"], status["adopted"], status["rejected"]) == ("done", 14, 1)
            assert [(r["row"], r["code"]) for r in status["rejections"]] == [(15, "CER_TOO_LONG")]
            assert (await http.get(f"/v1/caseload-imports/{import_id}", headers=auth)).status_code == 403
            missing = f"caseload-import-{'0' * 64}"
            assert (await http.get(f"/v1/caseload-imports/{missing}", headers=read)).status_code == 404
    for pathway_id in (await adopted_ids(db_pool, file_digest(path))).values():
        await ts_env.client.get_workflow_handle(pathway_id).terminate("test over")
