"""The daily drop-directory import (Temporal Schedule + ``FluxDropScan``), ``parcours flux import`` without
``--dry-run`` and ``parcours dev --demo N``'s ``run_demo``. Real dev server, embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import stat
import json
import os
import sys
from datetime import date
from pathlib import Path

from temporalio.client import Client

from activities.cnaf_parser import file_digest
from activities.flux_generator import generate_flux
from domain.flux_import import DropScanInput, DropScanResult, flux_import_workflow_id
from tests.flux_import_harness import (  # noqa: F401  (enc_client: session fixture)
    build_worker,
    enc_client,
    expected_for,
    secret_for,
    terminate_pathways,
)
from workers.cli.schedule import install_drop_schedule
from workers.runtime.config import Settings
from workers.runtime.keys import ENV_VAR
from workflows.flux_drop import FluxDropScan
from workflows.flux_import import FluxImport

ROOT = Path(__file__).resolve().parent.parent


async def _status(db_pool, digest: str) -> str | None:
    return await db_pool.fetchval("SELECT status FROM flux_files WHERE file_digest = $1", digest)


async def test_schedule_imports_new_dropped_files_daily(enc_client: Client, db_pool, task_queue, unique_id, tmp_path):
    secret = secret_for(unique_id)
    drop = tmp_path / "drop"
    drop.mkdir()
    path = drop / "flux-caf.xml"
    generate_flux(path, households=8, seed=int(unique_id, 16) % 10**6 + 3, flow_date=date(2025, 6, 2))
    (drop / "flux-next.xml.part").write_text("<being written")  # a file still being copied: not touched
    digest = file_digest(path)
    content = path.read_bytes()
    expected = expected_for(path, secret)
    schedule_id = f"flux-drop-{unique_id}"

    assert await install_drop_schedule(enc_client, drop, task_queue=task_queue, hour=5, schedule_id=schedule_id) \
        == "created"
    assert await install_drop_schedule(enc_client, drop, task_queue=task_queue, hour=6, schedule_id=schedule_id) \
        == "updated"
    handle = enc_client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        action = description.schedule.action
        assert action.workflow == "FluxDropScan" and action.task_queue == task_queue
        calendar = description.schedule.spec.calendars[0]
        assert [r.start for r in calendar.hour] == [6] and [r.start for r in calendar.minute] == [0]
        assert description.schedule.spec.time_zone_name == "Europe/Paris"
        assert len(description.info.next_action_times) > 0

        async with build_worker(enc_client, task_queue, db_pool, secret):
            await handle.trigger()
            for _ in range(600):
                if await _status(db_pool, digest) == "imported":
                    break
                await asyncio.sleep(0.05)
            assert await _status(db_pool, digest) == "imported"
            for _ in range(100):  # the import removes the dropped file once marked imported
                if not path.exists():
                    break
                await asyncio.sleep(0.05)
            assert not path.exists() and (drop / "flux-next.xml.part").exists()
            redropped = drop / "flux-caf-again.xml"  # the same content dropped again: removed, not re-imported
            redropped.write_bytes(content)
            scan = await enc_client.execute_workflow(
                FluxDropScan.run, DropScanInput(drop_dir=str(drop)), id=f"scan-again-{unique_id}",
                task_queue=task_queue)
        assert scan == DropScanResult()  # the next day: nothing new, nothing imported twice
        assert not redropped.exists()
        imported = await enc_client.get_workflow_handle_for(FluxImport.run, flux_import_workflow_id(digest)).result()
        assert imported.new_pathways == len(expected.subject_persons)
    finally:
        await handle.delete()
        await terminate_pathways(enc_client, expected.subject_persons)


async def test_cli_import_follows_the_workflow(enc_client: Client, db_pool, test_keyring, task_queue, unique_id,
                                               tmp_path):
    secret = secret_for(unique_id)
    source = tmp_path / "incoming" / "flux.xml"
    source.parent.mkdir()
    generate_flux(source, households=10, seed=int(unique_id, 16) % 10**6 + 5, flow_date=date(2025, 6, 3),
                  invalid_share=0.2)
    expected = expected_for(source, secret)
    env = {**os.environ, "TEMPORAL_ADDRESS": enc_client.service_client.config.target_host,
           "TEMPORAL_NAMESPACE": enc_client.namespace, "TEMPORAL_TASK_QUEUE": task_queue,
           ENV_VAR: test_keyring.to_spec(), "PARCOURS_HOME": str(tmp_path / "home"),
           "PARCOURS_DROP_DIR": str(tmp_path / "drop"), "PARCOURS_LOG_FORMAT": "json"}

    async def cli(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workers.cli", *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode(), err.decode()

    try:
        async with build_worker(enc_client, task_queue, db_pool, secret):
            code, out, err = await cli("flux", "import", str(source), "--format", "json")
            assert code == 0, err
            first = json.loads(out)
            code, out, err = await cli("flux", "import", str(source), "--format", "json")
            assert code == 0, err
            second = json.loads(out)
            code, out, err = await cli("flux", "import", str(source))  # table format: a summary
            assert code == 0, err
            assert "pathways started" in out and first["workflow_id"] in out
        assert first == second
        assert first["workflow_id"] == flux_import_workflow_id(file_digest(source))
        assert first["households"] == expected.households and first["rejected"] == expected.rejected
        assert first["new_pathways"] == len(expected.subject_persons)
        assert first["subject_to_duties"] >= len(expected.subject_persons)
        assert list((tmp_path / "drop").iterdir()) == []  # the staged copy is removed once imported
        assert source.exists()  # the original is the caller's: left alone
        code, _, err = await cli("flux", "import", str(tmp_path / "missing.xml"))
        assert code == 2 and len(err.strip().splitlines()) == 1
    finally:
        await terminate_pathways(enc_client, expected.subject_persons)


async def test_run_demo_generates_and_imports(enc_client: Client, db_pool, test_keyring, task_queue, unique_id,
                                              tmp_path, monkeypatch):
    from workers.dev.demo import run_demo, write_demo_flux

    secret = secret_for(unique_id)
    monkeypatch.setenv(ENV_VAR, test_keyring.to_spec())
    monkeypatch.setenv("PARCOURS_DROP_DIR", str(tmp_path / "drop"))
    settings = Settings(temporal_address=enc_client.service_client.config.target_host,
                        temporal_namespace=enc_client.namespace, temporal_task_queue=task_queue, home=tmp_path)
    households = 20 + int(unique_id, 16) % 7  # another count per run: another file on the shared server
    async with build_worker(enc_client, task_queue, db_pool, secret):
        result = await asyncio.to_thread(run_demo, settings, households)
        again = await asyncio.to_thread(run_demo, settings, households)
    assert list((tmp_path / "drop").iterdir()) == []  # imported, then removed from the drop directory
    expected = expected_for(write_demo_flux(tmp_path / "regenerated", households), secret)
    try:
        assert again == result
        assert result.households + result.rejected == households
        assert result.new_pathways == len(expected.subject_persons) > 0
    finally:
        await terminate_pathways(enc_client, expected.subject_persons)


def test_staged_copies_are_private_and_discarded_only_with_the_imported_content(tmp_path):
    from activities.drop_files import discard_imported
    from workers.cli.common import stage_file

    source = tmp_path / "incoming" / "flux.xml"
    source.parent.mkdir()
    source.write_bytes(b"<flux>personal data</flux>")
    source.chmod(0o644)
    drop = tmp_path / "drop"
    staged = stage_file(source, drop, file_digest(source))
    assert staged.parent == drop and stat.S_IMODE(staged.stat().st_mode) == 0o600
    assert stat.S_IMODE(drop.stat().st_mode) == 0o700
    in_place = drop / "dropped.xml"
    in_place.write_bytes(b"<flux>other</flux>")
    in_place.chmod(0o644)
    assert stage_file(in_place, drop, file_digest(in_place)) == in_place.resolve()
    assert stat.S_IMODE(in_place.stat().st_mode) == 0o600

    digest = file_digest(staged)
    staged.write_bytes(b"<flux>a new file under the same name</flux>")
    assert discard_imported(staged, digest) is False and staged.exists()
    assert discard_imported(staged, file_digest(staged)) is True and not staged.exists()
    assert discard_imported(staged, digest) is False  # already gone: a retried activity is fine
