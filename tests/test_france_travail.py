"""Issue 18: France Travail registration received from France Travail — the adapter against its simulator over
HTTP, and the daily sync signalling a registered 2025 pathway whose clock and task then close."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.france_travail import (
    RATE_LIMITED,
    UNAVAILABLE,
    FranceTravailActivities,
    FranceTravailClient,
    InMemoryFranceTravail,
)
from domain.france_travail import ANSWER_INVALID, NON_RETRYABLE, REFUSED, SyncInput
from domain.pathway import DeadlineKind, DeadlineStatus
from domain.rules import RULESET_2025
from pathway_harness import running_pathway
from served_app import serve
from workers.dev.embedded import free_port
from workers.runtime.sandbox import workflow_runner
from workflows.france_travail_sync import FranceTravailSync
from workflows.pathway import BeneficiaryPathway

TODAY = date(2026, 3, 10)
PERSON = "a1b2c3d4e5f60718"


@pytest_asyncio.fixture(scope="module")
async def sim_url():
    from workers.dev.france_travail_sim import create_app

    port = free_port()
    server, task = await serve(create_app(), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest_asyncio.fixture
async def control(sim_url):
    async with httpx.AsyncClient(base_url=sim_url, timeout=5) as http:
        await http.delete("/_control/faults")
        yield http
        await http.delete("/_control/faults")


@pytest_asyncio.fixture
async def ft(sim_url):
    async with httpx.AsyncClient(base_url=sim_url, timeout=httpx.Timeout(0.5)) as http:
        yield FranceTravailClient(http)


async def test_a_registered_person_has_a_date_an_unknown_one_none(ft, control):
    (await control.post("/_control/registrations",
                        json={"person_id": PERSON, "registered_on": "2026-02-03"})).raise_for_status()
    assert await ft.registered_on(PERSON, today=TODAY) == date(2026, 2, 3)
    assert await ft.registered_on("ffffffffffffffff", today=TODAY) is None


async def test_5xx_and_429_are_retried_then_answer(ft, control):
    await control.post("/_control/faults", json=[{"mode": "5xx", "status": 502}, {"mode": "429", "retry_after": 7}])
    (await control.post("/_control/registrations",
                        json={"person_id": PERSON, "registered_on": "2026-02-03"})).raise_for_status()
    with pytest.raises(ApplicationError) as first:
        await ft.registered_on(PERSON, today=TODAY)
    assert first.value.type == UNAVAILABLE and not first.value.non_retryable and UNAVAILABLE not in NON_RETRYABLE
    with pytest.raises(ApplicationError) as second:
        await ft.registered_on(PERSON, today=TODAY)
    assert second.value.type == RATE_LIMITED and second.value.next_retry_delay == timedelta(seconds=7)
    assert await ft.registered_on(PERSON, today=TODAY) == date(2026, 2, 3)  # the retry gets the answer


async def test_4xx_and_implausible_answers_are_not_retryable(ft, control):
    await control.post("/_control/faults", json={"mode": "4xx", "status": 403})
    with pytest.raises(ApplicationError) as refused:
        await ft.registered_on(PERSON, today=TODAY)
    assert (refused.value.type, refused.value.non_retryable) == (REFUSED, True)
    refused_seed = await control.post("/_control/registrations",
                                      json={"person_id": "1850762123456", "registered_on": "2026-02-03"})
    assert refused_seed.status_code == 422 and "1850762123456" not in refused_seed.text
    with pytest.raises(ApplicationError) as nir:  # a NIR is never sent
        await ft.registered_on("1850762123456", today=TODAY)
    assert nir.value.type == REFUSED and nir.value.non_retryable
    (await control.post("/_control/registrations",
                        json={"person_id": "b1b2c3d4e5f60718", "registered_on": "2001-01-01"})).raise_for_status()
    with pytest.raises(ApplicationError) as old:
        await ft.registered_on("b1b2c3d4e5f60718", today=TODAY)
    assert (old.value.type, old.value.non_retryable) == (ANSWER_INVALID, True)


async def test_a_timeout_is_retryable(ft, control):
    await control.post("/_control/faults", json={"mode": "timeout", "delay": 3})
    with pytest.raises(ApplicationError) as err:
        await ft.registered_on(PERSON, today=TODAY)
    assert err.value.type not in NON_RETRYABLE and not err.value.non_retryable


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        yield harness


async def test_the_sync_signals_registered_2025_pathways_whose_clock_or_task_closes(h, db_pool, unique_id):
    d0 = await h.morning()
    h.territory = f"T-{unique_id[:8]}"  # this test's pathways only
    await h.start()
    unregistered = h.handle.id
    await h.start()
    late = h.handle.id  # registered after its clock ran out: its task closes
    await h.sleep_until(d0 + timedelta(days=RULESET_2025.france_travail_registration_days + 1))
    await h.idle()
    opened = await db_pool.fetch("SELECT workflow_id FROM human_tasks WHERE kind = 'FRANCE_TRAVAIL_REGISTRATION' "
                                 "AND status = 'OPEN' AND workflow_id = ANY($1::text[])", [late, unregistered])
    assert {r["workflow_id"] for r in opened} == {late, unregistered}
    today = await h.today()
    await h.start()
    on_time = h.handle.id  # registered while its clock runs: the clock is met
    await h.idle()
    persons = {r["pathway_id"]: r["person_id"] for r in await db_pool.fetch(
        "SELECT pathway_id, person_id FROM pathways WHERE pathway_id = ANY($1::text[])", [late, on_time])}
    fake = InMemoryFranceTravail({persons[late]: d0 + timedelta(days=3), persons[on_time]: today})
    sync = dict(task_queue=f"{h.task_queue}-ft")
    async with Worker(h.env.client, workflows=[FranceTravailSync], activities=FranceTravailActivities(db_pool, fake).all(),
                      workflow_runner=workflow_runner(), **sync):
        with h.env.auto_time_skipping_disabled():
            report = await h.env.client.execute_workflow(FranceTravailSync.run, SyncInput(territory=h.territory),
                                                         id=f"france-travail-sync-{unique_id}", **sync)
            assert (report.awaiting, report.registered, report.not_found) == (3, sorted([late, on_time]), [])
            assert len(fake.asked) == 3
            view = await h.view(lambda v: v.plein_emploi.france_travail_registered_on is not None)
            assert view.plein_emploi.france_travail_registered_on == today
            [clock] = [d for d in view.deadlines if d.kind is DeadlineKind.FRANCE_TRAVAIL_REGISTRATION]
            assert clock.status == DeadlineStatus.MET.value
            late_view = await h.env.client.get_workflow_handle(late).query(BeneficiaryPathway.view)
            assert late_view.plein_emploi.france_travail_registered_on == d0 + timedelta(days=3)
            await h.eventually(lambda: _task_status(db_pool, late, "DONE"))
            closed = await db_pool.fetchrow("SELECT status, closure_reason FROM human_tasks WHERE workflow_id = $1 "
                                            "AND kind = 'FRANCE_TRAVAIL_REGISTRATION'", late)
            assert (closed["status"], closed["closure_reason"]) == ("DONE", "FRANCE_TRAVAIL_REGISTERED")
            await h.eventually(lambda: _clock_closed(db_pool, on_time))
            # the next run asks only for the one still awaited, and signals nobody
            again = await h.env.client.execute_workflow(FranceTravailSync.run, SyncInput(territory=h.territory),
                                                        id=f"france-travail-sync-{unique_id}-2", **sync)
    assert (again.awaiting, again.registered) == (1, [])
    assert fake.asked[3:] == [await db_pool.fetchval("SELECT person_id FROM pathways WHERE pathway_id = $1",
                                                     unregistered)]
    assert await _task_status(db_pool, unregistered, "OPEN")
    for pid in (unregistered, late):
        await h.env.client.get_workflow_handle(pid).terminate("test over")


async def test_the_sync_retries_france_travail_outages_through_temporal(h, db_pool, sim_url, control, unique_id):
    """A 503 on the HTTP adapter fails one attempt; Temporal retries it and the run goes on (here the registered
    pathway's workflow is gone: NOT_FOUND, counted)."""
    territory, pathway_id, person = f"T-{unique_id[:8]}", f"pathway-{unique_id}", unique_id[:32]
    today = await h.today()
    await db_pool.execute("INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, subject_to_duties, "
                          "version) VALUES ($1, $2, $3, '2025.1', 'AWAITING_ORIENTATION', true, 1)",
                          pathway_id, person, territory)
    await db_pool.execute("INSERT INTO deadlines (pathway_id, deadline_id, kind, started_on, due_on, status, "
                          "responsible, version) VALUES ($1, 'ft-1', 'FRANCE_TRAVAIL_REGISTRATION', $2, $3, "
                          "'PENDING', 'SLAI', 1)", pathway_id, today - timedelta(days=3), today + timedelta(days=27))
    (await control.post("/_control/registrations", json={"person_id": person,
                                                         "registered_on": (today - timedelta(days=1)).isoformat()}))
    await control.post("/_control/faults", json={"mode": "5xx", "status": 503})
    sync = dict(task_queue=f"{h.task_queue}-ft-http")
    async with httpx.AsyncClient(base_url=sim_url, timeout=2) as http:
        async with Worker(h.env.client, workflows=[FranceTravailSync], workflow_runner=workflow_runner(),
                          activities=FranceTravailActivities(db_pool, FranceTravailClient(http)).all(), **sync):
            handle = await h.env.client.start_workflow(FranceTravailSync.run, SyncInput(territory=territory),
                                                       id=f"france-travail-sync-{unique_id}", **sync)
            report = await handle.result()
    assert (report.awaiting, report.registered, report.not_found, report.refused) == (1, [], [pathway_id], 0)
    assert (await control.get("/_control/faults")).json()["faults"] == []
    attempts = [e.activity_task_started_event_attributes.attempt async for e in handle.fetch_history_events()
                if e.HasField("activity_task_started_event_attributes")]
    assert attempts[-1] == 2  # the check: failed once on the 503, then answered


async def _task_status(pool, workflow_id: str, status: str) -> bool:
    return await pool.fetchval("SELECT status FROM human_tasks WHERE workflow_id = $1 "
                               "AND kind = 'FRANCE_TRAVAIL_REGISTRATION'", workflow_id) == status


async def _clock_closed(pool, pathway_id: str) -> bool:
    return await pool.fetchval("SELECT status FROM deadlines WHERE pathway_id = $1 "
                               "AND kind = 'FRANCE_TRAVAIL_REGISTRATION'", pathway_id) == "MET"


async def test_daily_sync_schedule_is_installed_with_the_others(dev_env, task_queue, unique_id):
    from workers.cli.schedule import install_france_travail_schedule

    schedule_id = f"ft-sync-{unique_id}"
    client = dev_env.client
    assert await install_france_travail_schedule(client, task_queue=task_queue, schedule_id=schedule_id) == "created"
    assert await install_france_travail_schedule(client, task_queue=task_queue, schedule_id=schedule_id) == "updated"
    handle = client.get_schedule_handle(schedule_id)
    try:
        description = await handle.describe()
        assert description.schedule.action.workflow == "FranceTravailSync"
        calendar = description.schedule.spec.calendars[0]
        assert [r.start for r in calendar.hour] == [5] and [r.start for r in calendar.minute] == [30]
    finally:
        await handle.delete()
