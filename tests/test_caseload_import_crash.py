"""A worker killed (SIGKILL) in the middle of a caseload import (issue 19): a new worker resumes it and nothing is
lost or duplicated — one pathway per adopted row, one ledger row per person and per row, all started.

Real dev server and embedded PostgreSQL; the first worker is a separate process, killed mid-slice.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from datetime import datetime, timezone
from pathlib import Path

from activities.caseload_generator import caseload_rows, write_caseload_csv
from domain.caseload import ADOPTABLE_STAGES
from domain.deadlines import paris_date
from tests.caseload_import_harness import build_worker
from tests.flux_import_harness import enc_client  # noqa: F401  (session fixture)
from tests.test_caseload_import import import_input
from workflows.caseload_import import start_caseload_import

ROOT = Path(__file__).resolve().parent.parent
CASES = 60


async def _rows_done(pool, digest: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM caseload_import_rows WHERE file_digest = $1", digest)


async def test_killed_worker_resumes_without_loss_or_duplicate(enc_client, db_pool, database_url, test_keyring,
                                                               task_queue, unique_id, tmp_path):
    secret = hashlib.sha256(unique_id.encode()).digest()
    today = paris_date(datetime.now(timezone.utc))
    rows = caseload_rows(CASES, today, seed=int(unique_id[:6], 16))
    assert {r["stage"] for r in rows} == {s.value for s in ADOPTABLE_STAGES}  # every stage, the holds included
    path = write_caseload_csv(tmp_path / "caseload.csv", rows)
    inp = import_input(path, batch_size=CASES, heartbeat_timeout_seconds=2)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.caseload_import_harness",
        "--address", enc_client.service_client.config.target_host, "--namespace", enc_client.namespace,
        "--task-queue", task_queue, "--database-url", database_url, "--secret-hex", secret.hex(),
        "--keys", test_keyring.to_spec(), "--start-delay", "0.05", cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"worker ready"
        handle = await start_caseload_import(enc_client, inp, task_queue=task_queue)
        for _ in range(3000):
            if await _rows_done(db_pool, inp.file_digest) >= 10:
                break
            await asyncio.sleep(0.01)
        process.kill()
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    killed_at = await _rows_done(db_pool, inp.file_digest)
    assert 10 <= killed_at < CASES, "killed in the middle of the slice"
    ids: list[str] = []
    try:
        async with build_worker(enc_client, task_queue, db_pool, secret):
            result = await asyncio.wait_for(handle.result(), 120)
        ids = [r["pathway_id"] for r in await db_pool.fetch(
            "SELECT pathway_id FROM caseload_import_rows WHERE file_digest = $1", inp.file_digest)]
        assert (result.adopted, result.unchanged, result.rejected) == (CASES, 0, 0)
        assert await _rows_done(db_pool, inp.file_digest) == CASES == len(set(ids))
        ledger = await db_pool.fetch("SELECT status FROM caseload_adoptions WHERE file_digest = $1", inp.file_digest)
        assert [r["status"] for r in ledger] == ["started"] * CASES
        for pathway_id in ids:  # each pathway started once, by this import, at its first run
            described = await enc_client.get_workflow_handle(pathway_id).describe()
            assert (await described.memo_value("caseload")).startswith(inp.file_digest[:16])
    finally:
        for pathway_id in ids:
            await enc_client.get_workflow_handle(pathway_id).terminate("test over")
