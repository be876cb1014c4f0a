"""Importing a flow file as a workflow: one pathway per person subject to rights and duties, the same file
twice is one import, status changes reach the pathway as events (closure → left_rsa with its date).

Real dev server (the pathways keep their month-long timers: no time skipping) and embedded PostgreSQL;
payloads encrypted with the test keyring, as in production.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.csv_import import load_mapping
from activities.flux_generator import generate_flux
from activities.flux_import import FluxImporter
from domain.flux_import import SliceRequest, flux_import_workflow_id
from domain.identity import nir_key, person_id
from domain.pathway import Stage
from domain.pathway_constants import pathway_workflow_id
from tests.flux_import_harness import (  # noqa: F401  (enc_client: session fixture)
    build_worker,
    enc_client,
    expected_for,
    flux_xml,
    household_xml,
    import_input,
    secret_for,
    signal_events,
    terminate_pathways,
)
from workflows.flux_import import FluxImport, start_flux_import
from workflows.pathway import BeneficiaryPathway


def make_nir(rng: random.Random) -> str:
    body = f"{rng.choice('12')}{rng.randrange(60, 99):02d}{rng.randrange(1, 13):02d}62{rng.randrange(1, 999):03d}" \
           f"{rng.randrange(1, 999):03d}"
    return f"{body}{nir_key(body):02d}"


async def ledger(db_pool, digest: str) -> dict[str, int]:
    rows = await db_pool.fetch("SELECT outcome, count(*) AS n FROM flux_import_ledger WHERE file_digest = $1 "
                               "GROUP BY outcome", digest)
    return {r["outcome"]: r["n"] for r in rows}


async def test_import_starts_one_pathway_per_subject_person(enc_client, db_pool, task_queue, unique_id, tmp_path):
    secret = secret_for(unique_id)
    path = tmp_path / "flux.xml"
    # A file (its digest unique to this test) that exercises every path: subject persons, rejected records
    # and new entrants already suspended; the first of a few seeds that does.
    for offset in range(50):
        generate_flux(path, households=40, seed=int(unique_id, 16) % 10**6 + offset, flow_date=date(2025, 3, 3),
                      invalid_share=0.25)
        expected = expected_for(path, secret)
        if expected.subject_persons and expected.rejected and any(
                len(kinds) > 1 for kinds in expected.signals.values()):
            break
    assert expected.subject_persons and expected.rejected  # the file exercises both paths
    inp = import_input(path, batch_size=15, slices_per_run=2)  # 3 slices: one continue-as-new on the way
    async with build_worker(enc_client, task_queue, db_pool, secret):
        handle = await start_flux_import(enc_client, inp, task_queue=task_queue)
        result = await handle.result()
        progress = await handle.query(FluxImport.progress)
    try:
        assert handle.id == flux_import_workflow_id(inp.file_digest)
        assert result.households == expected.households
        assert result.rejected == expected.rejected
        assert result.new_pathways == len(expected.subject_persons)
        assert set(expected.signals) == expected.subject_persons
        assert result.signals == sum(len(kinds) for kinds in expected.signals.values())
        assert any(len(kinds) > 1 for kinds in expected.signals.values())  # new entrants already suspended
        assert progress.status == "done" and progress.done == expected.last_position and progress.run == 2
        counts = await ledger(db_pool, inp.file_digest)
        assert counts.get("imported") == expected.households
        assert counts.get("rejected") == expected.rejected
        quarantined = await db_pool.fetchval("SELECT count(*) FROM flux_quarantine WHERE file_digest = $1",
                                             inp.file_digest)
        assert quarantined == expected.rejected
        started = {r["person_id"] for r in await db_pool.fetch(
            "SELECT person_id FROM flux_observations WHERE pathway_file_digest = $1", inp.file_digest)}
        assert started == expected.subject_persons
        for pid in expected.subject_persons:
            description = await enc_client.get_workflow_handle(pathway_workflow_id(pid)).describe()
            assert description.workflow_type == "BeneficiaryPathway"
            signals = await signal_events(enc_client, pid)
            assert [p["event_id"].rsplit(":", 1)[1] for _, p in signals] == expected.signals[pid]
            assert expected.signals[pid][0] == "new_entrant"
        status = await db_pool.fetchval("SELECT status FROM flux_files WHERE file_digest = $1", inp.file_digest)
        assert status == "imported"
    finally:
        await terminate_pathways(enc_client, expected.subject_persons)


async def test_same_file_twice_signals_nothing_twice(enc_client, db_pool, task_queue, unique_id, tmp_path):
    secret = secret_for(unique_id)
    path = tmp_path / "flux.xml"
    generate_flux(path, households=12, seed=int(unique_id, 16) % 10**6 + 1, flow_date=date(2025, 3, 4))
    expected = expected_for(path, secret)
    copy = tmp_path / "same-bytes-other-name.xml"
    copy.write_bytes(path.read_bytes())
    async with build_worker(enc_client, task_queue, db_pool, secret):
        first = await (await start_flux_import(enc_client, import_input(path), task_queue=task_queue)).result()
        again = await start_flux_import(enc_client, import_input(copy), task_queue=task_queue)
        second = await again.result()
        # The slice activity run again by hand (a retry after the ledger was written): nothing to do.
        importer = FluxImporter(db_pool, secret, enc_client)
        rerun = await importer.import_slice(SliceRequest(
            file_path=str(path), file_digest=first.file_digest, first=1, last=expected.last_position,
            pathway_task_queue=task_queue))
    try:
        assert second == first
        assert again.id == flux_import_workflow_id(first.file_digest)
        runs = [w async for w in enc_client.list_workflows(f'WorkflowId = "{again.id}"')]
        assert len(runs) == 1  # one workflow execution for the two imports
        assert rerun.already_done == expected.last_position and rerun.signals == 0
        for pid in expected.subject_persons:
            assert len(await signal_events(enc_client, pid)) == len(expected.signals[pid])
    finally:
        await terminate_pathways(enc_client, expected.subject_persons)


async def test_status_changes_reach_the_pathway(enc_client, db_pool, task_queue, unique_id, tmp_path):
    """Suspension, "non soumis", closure (left_rsa with DTCLORSA) and reopening, over four daily files."""
    secret = secret_for(unique_id)
    rng = random.Random(unique_id)
    nir_a, nir_b = make_nir(rng), make_nir(rng)
    pid_a, pid_b = person_id(nir_a, secret), person_id(nir_b, secret)
    m_a, m_b = str(rng.randrange(10**6, 10**7)), str(rng.randrange(10**6, 10**7))
    d1 = date.today() - timedelta(days=4)  # recent: the re-entry window after the closure is still open
    closed_on = d1 + timedelta(days=1)
    files = [
        flux_xml(d1, [household_xml(m_a, "2", [(nir_a, True)]), household_xml(m_b, "2", [(nir_b, True)])]),
        flux_xml(d1 + timedelta(days=1), [household_xml(m_a, "4", [(nir_a, True)], suspension=("06", d1)),
                                          household_xml(m_b, "2", [(nir_b, False)])]),
        flux_xml(d1 + timedelta(days=2), [household_xml(m_a, "5", [(nir_a, True)], closure=("ECH", closed_on))]),
        flux_xml(d1 + timedelta(days=3), [household_xml(m_a, "2", [(nir_a, True)])]),
    ]
    paths = []
    for n, text in enumerate(files):
        paths.append(tmp_path / f"flux-{n}.xml")
        paths[-1].write_text(text, encoding="utf-8")
    try:
        async with build_worker(enc_client, task_queue, db_pool, secret):
            results = []
            for n, path in enumerate(paths):
                results.append(await (await start_flux_import(enc_client, import_input(path),
                                                              task_queue=task_queue)).result())
                if n == 1:
                    b_view = await _view_until(enc_client, pid_b, lambda v: v.stage is Stage.NOT_SUBJECT)
                    assert b_view.subject_to_duties is False
                if n == 2:
                    a_view = await _view_until(enc_client, pid_a, lambda v: v.stage is Stage.CLOSED)
                    assert a_view.stage_history[-1].cause == "EXIT_SORTIE_RSA"
            a_view = await _view_until(enc_client, pid_a, lambda v: v.stage is not Stage.CLOSED)
            assert a_view.stage is Stage.AWAITING_ORIENTATION  # reopened within the window: clocks resumed
            a_signals = await signal_events(enc_client, pid_a)
        assert [r.new_pathways for r in results] == [2, 0, 0, 0]
        assert [(name, p["event_id"].rsplit(":", 1)[1]) for name, p in a_signals] == [
            ("flow_record", "new_entrant"), ("payment_suspended", "payment_suspended"), ("left_rsa", "left_rsa"),
            ("flow_record", "rsa_reopened")]
        left = a_signals[2][1]
        assert left["end_of_payment_date"] == closed_on.isoformat() and left["reason"] == "ECH"
        b_signals = await signal_events(enc_client, pid_b)
        assert [(name, p["subject_to_duties"]) for name, p in b_signals] == [("flow_record", True),
                                                                              ("flow_record", False)]
    finally:
        await terminate_pathways(enc_client, [pid_a, pid_b])


async def _view_until(client: Client, pid: str, until, attempts: int = 200):
    handle = client.get_workflow_handle_for(BeneficiaryPathway.run, pathway_workflow_id(pid))
    view = None
    for _ in range(attempts):
        view = await handle.query(BeneficiaryPathway.view)
        if until(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never held; last view: {view}")


async def test_unreadable_file_fails_the_import(enc_client, db_pool, task_queue, unique_id, tmp_path):
    from temporalio.client import WorkflowFailureError

    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    path.write_text(f"<notaflux>{unique_id}</notaflux>")
    inp = import_input(path)
    async with build_worker(enc_client, task_queue, db_pool, secret_for(unique_id)):
        with pytest.raises(WorkflowFailureError) as failure:
            await (await start_flux_import(enc_client, inp, task_queue=task_queue)).result()
    assert failure.value.cause.cause.type == "FLUX_UNREADABLE"
    status = await db_pool.fetchval("SELECT status FROM flux_files WHERE file_digest = $1", inp.file_digest)
    assert status == "unreadable"


async def test_a_csv_list_is_imported_through_the_same_workflow(enc_client, db_pool, task_queue, unique_id, tmp_path):
    """A département's CSV list of new entrants (column mapping): the same workflow, ledger and quarantine as a
    CNAF flow; one pathway per subject person, each rejected row quarantined with its position."""
    secret = secret_for(unique_id)
    fixtures = Path(__file__).parent / "fixtures" / "flux"
    path = tmp_path / "nouveaux_entrants.csv"
    # The fixture plus a row without a matricule (rejected) that makes this file's digest unique to the test.
    path.write_bytes((fixtures / "new_entrants.csv").read_bytes().rstrip(b"\n")
                     + f"\n;{unique_id};X;Y;01/01/1990;1;2;14/03/2024\n".encode())
    mapping = load_mapping(fixtures / "new_entrants_mapping.toml").model_dump()
    subject = {person_id(nir, secret) for nir in ("185056204112316", "177076219300770")}  # Jérôme, Paul
    inp = import_input(path, source="CSV", mapping=mapping)
    async with build_worker(enc_client, task_queue, db_pool, secret):
        result = await (await start_flux_import(enc_client, inp, task_queue=task_queue)).result()
    try:
        assert (result.households, result.persons, result.subject_to_duties) == (2, 3, 2)
        assert result.rejected == 6 and result.new_pathways == 2
        quarantined = await db_pool.fetch("SELECT position FROM flux_quarantine WHERE file_digest = $1 ORDER BY 1",
                                          inp.file_digest)
        assert [r["position"] for r in quarantined] == [4, 5, 6, 7, 8, 9]
        started = {r["person_id"] for r in await db_pool.fetch(
            "SELECT person_id FROM flux_observations WHERE pathway_file_digest = $1", inp.file_digest)}
        assert started == subject
        for pid in subject:
            signals = await signal_events(enc_client, pid)
            assert signals and signals[0][1]["event_id"].rsplit(":", 1)[1] == "new_entrant"
        assert await db_pool.fetchval("SELECT status FROM flux_files WHERE file_digest = $1",
                                      inp.file_digest) == "imported"
    finally:
        await terminate_pathways(enc_client, subject)
