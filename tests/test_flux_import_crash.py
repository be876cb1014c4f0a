"""A worker killed (SIGKILL) in the middle of an import: a new worker resumes it and every effect happens
once — one pathway per subject person, each signal once in its history, one ledger row per position.

Real dev server and embedded PostgreSQL; the first worker is a separate process, killed mid-slice.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import date
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.flux_generator import generate_flux
from tests.flux_import_harness import (  # noqa: F401  (enc_client: session fixture)
    SlowDelivery,
    build_worker,
    enc_client,
    expected_for,
    import_input,
    secret_for,
    signal_events,
    terminate_pathways,
)
from domain.flux_import import FluxImportProgress
from workers.cli.common import position_done
from workflows.flux_import import start_flux_import

ROOT = Path(__file__).resolve().parent.parent


async def _ledger_count(db_pool, digest: str) -> int:
    return await db_pool.fetchval("SELECT count(*) FROM flux_import_ledger WHERE file_digest = $1", digest)


async def _intents(db_pool, digest: str) -> int:
    return await db_pool.fetchval("SELECT count(*) FROM flux_signal_intents WHERE file_digest = $1", digest)


async def _pathways(client: Client, task_queue: str) -> int:
    return (await client.count_workflows(
        f'WorkflowType = "BeneficiaryPathway" AND TaskQueue = "{task_queue}"')).count


async def _committed_pathways(db_pool, digest: str) -> int:
    return await db_pool.fetchval("SELECT count(*) FROM flux_observations WHERE pathway_file_digest = $1", digest)


async def _rechecked_signals(client: Client, handle) -> int:
    total = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            payloads = list(event.activity_task_completed_event_attributes.result.payloads)
            value = (await client.data_converter.decode(payloads))[0] if payloads else None
            if isinstance(value, dict):
                total += value.get("rechecked_signals", 0)
    return total


async def test_signal_delay_slows_every_signal_of_the_import(enc_client: Client, db_pool, task_queue, unique_id,
                                                            tmp_path):
    """``--signal-delay`` (the harness's SlowDelivery) is the delivery the import uses: every signal waits first."""
    secret = secret_for(unique_id)
    path = tmp_path / "flux.xml"
    generate_flux(path, households=12, seed=int(unique_id, 16) % 10**6 + 3, flow_date=date(2025, 5, 5))
    expected = expected_for(path, secret)
    slow = SlowDelivery(0.4)
    try:
        async with build_worker(enc_client, task_queue, db_pool, secret, delivery=slow):
            started = time.perf_counter()
            handle = await start_flux_import(enc_client, import_input(path), task_queue=task_queue)
            result = await asyncio.wait_for(handle.result(), 120)
            elapsed = time.perf_counter() - started
        assert result.signals == sum(len(kinds) for kinds in expected.signals.values()) > 0
        assert slow.delayed == result.signals
        longest = max(len(kinds) for kinds in expected.signals.values())  # one person's signals go in order
        assert elapsed >= longest * slow.delay
    finally:
        await terminate_pathways(enc_client, expected.subject_persons)


async def _import_and_kill(enc_client: Client, db_pool, database_url, test_keyring, task_queue, secret, path):
    """Import ``path`` with a worker subprocess and SIGKILL it while a chunk's signals are in flight.

    Returns (handle, expected, digest, hit): ``hit`` tells whether the kill landed in that window."""
    expected = expected_for(path, secret)
    inp = import_input(path, batch_size=60, heartbeat_timeout_seconds=2)
    digest = inp.file_digest

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.flux_import_harness",
        "--address", enc_client.service_client.config.target_host, "--namespace", enc_client.namespace,
        "--task-queue", task_queue, "--database-url", database_url, "--secret-hex", secret.hex(),
        "--keys", test_keyring.to_spec(), "--signal-delay", "0.1",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"worker ready"
        handle = await start_flux_import(enc_client, inp, task_queue=task_queue)
        for _ in range(3000):  # until a chunk is being signalled, after one was written, and some of its
            # pathways exist already (each signal waits 0.1 s first: the chunk is far from done)
            if await _ledger_count(db_pool, digest) >= 20 and await _intents(db_pool, digest) and \
                    await _pathways(enc_client, task_queue) > await _committed_pathways(db_pool, digest):
                break
            await asyncio.sleep(0.01)
        process.kill()
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    hit = 20 <= await _ledger_count(db_pool, digest) < 60 and bool(await _intents(db_pool, digest))
    return handle, expected, digest, hit


async def test_killed_worker_resumes_without_duplicates(enc_client: Client, db_pool, database_url, test_keyring,
                                                        task_queue, unique_id, tmp_path):
    secret = secret_for(unique_id)
    # The kill must land while a chunk's signals are being sent; on a loaded machine it can miss that window:
    # such an attempt is finished by a worker (nothing left running) and the scenario is tried again.
    for attempt in range(3):
        path = tmp_path / f"flux-{attempt}.xml"
        generate_flux(path, households=120, seed=int(unique_id, 16) % 10**6 + 7 + attempt, flow_date=date(2025, 5, 5),
                      invalid_share=0.1)
        queue = f"{task_queue}-{attempt}"
        handle, expected, digest, hit = await _import_and_kill(
            enc_client, db_pool, database_url, test_keyring, queue, secret, path)
        if hit:
            task_queue = queue
            break
        async with build_worker(enc_client, queue, db_pool, secret):
            await asyncio.wait_for(handle.result(), 120)
        await terminate_pathways(enc_client, expected.subject_persons)
    assert 20 <= await _ledger_count(db_pool, digest) < 60, "killed in the middle of the first slice"
    assert await _intents(db_pool, digest), "killed while a chunk's signals were being sent"
    # The slice's heartbeat tells how far it got (what `parcours flux import` shows between slices).
    progress = FluxImportProgress(status="importing", total=expected.last_position, done=0, slices=0, run=1,
                                  signals=0)
    assert await position_done(enc_client, handle, progress) >= 25

    try:
        async with build_worker(enc_client, task_queue, db_pool, secret):
            result = await asyncio.wait_for(handle.result(), 120)
            signals = {pid: await signal_events(enc_client, pid) for pid in expected.subject_persons}
        assert result.positions == expected.last_position == await _ledger_count(db_pool, digest)
        assert result.new_pathways == len(expected.subject_persons)
        assert result.signals == sum(len(kinds) for kinds in expected.signals.values())
        for pid, events in signals.items():  # each signal exactly once in the pathway's history
            assert [p["event_id"].rsplit(":", 1)[1] for _, p in events] == expected.signals[pid]
        started = await db_pool.fetchval("SELECT count(*) FROM flux_observations WHERE pathway_file_digest = $1",
                                         digest)
        assert started == len(expected.subject_persons)
        assert await _intents(db_pool, digest) == 0
        # The resumed slice found in the pathways' histories the signals the killed worker had sent.
        assert await _rechecked_signals(enc_client, handle) > 0
    finally:
        await terminate_pathways(enc_client, expected.subject_persons)
