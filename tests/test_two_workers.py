"""Two worker processes share a daily update; the one running the import's slice is killed (SIGKILL) mid-chunk:
the other finishes it and every household is applied exactly once — each of the file's signals once in its
pathway's history, as many as the ledger counts, one ledger row per household.

Real dev server and embedded PostgreSQL; both workers are separate processes (``tests.flux_import_harness``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import date
from pathlib import Path

from temporalio.client import Client

from activities.flux_generator import generate_daily_update, generate_flux
from bench.flows import check_exactly_once, observation_ids
from tests.flux_import_harness import (  # noqa: F401  (enc_client: session fixture)
    build_worker,
    enc_client,
    import_input,
    secret_for,
    terminate_pathways,
)
from workflows.flux_import import start_flux_import

ROOT = Path(__file__).resolve().parent.parent
HOUSEHOLDS = 40  # two chunks of the slice (25 + 15): the kill lands while the second is signalled
DAY1, DAY2 = date(2025, 5, 5), date(2025, 5, 6)


async def _worker(client: Client, database_url: str, keys: str, task_queue: str, secret: bytes):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.flux_import_harness",
        "--address", client.service_client.config.target_host, "--namespace", client.namespace,
        "--task-queue", task_queue, "--database-url", database_url, "--secret-hex", secret.hex(),
        "--keys", keys, "--max-cached-workflows", "1000", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )
    assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"worker ready"
    return process


async def _slice_worker_pid(handle) -> int | None:
    """The pid of the worker running the import's slice (its identity is ``pid@host``), once it runs."""
    for activity in (await handle.describe()).raw_description.pending_activities:
        identity = activity.last_worker_identity
        if activity.activity_type.name == "flux_import.import_slice" and identity:
            return int(identity.split("@", 1)[0])
    return None


async def test_two_workers_one_killed_every_household_applied_once(
        enc_client: Client, db_pool, database_url, test_keyring, task_queue, unique_id, tmp_path):
    secret = secret_for(unique_id)
    seed = int(unique_id, 16) % 10**6
    day1, day2 = tmp_path / "day1.xml", tmp_path / "day2.xml"
    generate_flux(day1, households=HOUSEHOLDS, seed=seed, flow_date=DAY1)
    generate_daily_update(day2, households=HOUSEHOLDS, seed=seed, flow_date=DAY1, update_date=DAY2,
                          update_households=HOUSEHOLDS)
    persons = observation_ids(day1, secret)[1] | observation_ids(day2, secret)[1]
    async with build_worker(enc_client, task_queue, db_pool, secret):  # day 1: the pathways the update follows
        await (await start_flux_import(enc_client, import_input(day1), task_queue=task_queue)).result()
    workers = list(await asyncio.gather(
        *(_worker(enc_client, database_url, test_keyring.to_spec(), task_queue, secret) for _ in range(2))))
    try:
        inp = import_input(day2, batch_size=HOUSEHOLDS, heartbeat_timeout_seconds=2)
        handle = await start_flux_import(enc_client, inp, task_queue=task_queue)
        killed = None
        for _ in range(6000):  # until a chunk's signals are in flight, after a first chunk was written
            pid = await _slice_worker_pid(handle)
            ledger = await db_pool.fetchval("SELECT count(*) FROM flux_import_ledger WHERE file_digest = $1",
                                            inp.file_digest)
            intents = await db_pool.fetchval("SELECT count(*) FROM flux_signal_intents WHERE file_digest = $1",
                                             inp.file_digest)
            if pid in {w.pid for w in workers} and ledger >= 20 and intents:
                killed = next(w for w in workers if w.pid == pid)
                os.kill(pid, signal.SIGKILL)
                await killed.wait()
                break
            await asyncio.sleep(0.01)
        assert killed is not None, "the worker running the slice was killed mid-import"
        assert any(w.returncode is None for w in workers), "the other worker is still running"
        try:
            result = await asyncio.wait_for(handle.result(), 240)
        except asyncio.TimeoutError:
            pending = (await handle.describe()).raw_description.pending_activities
            raise AssertionError(f"import not finished 240 s after the kill; pending: {pending}") from None
        found, ledger, problems = await check_exactly_once(enc_client, db_pool, day2, inp.file_digest, secret)
        assert problems == []
        assert found == ledger == result.signals > HOUSEHOLDS // 2, (found, ledger, result.signals)
        assert result.positions == HOUSEHOLDS
    finally:
        for w in workers:
            if w.returncode is None:
                w.kill()
                await w.wait()
        await asyncio.gather(*(terminate_pathways(enc_client, [pid]) for pid in persons))
