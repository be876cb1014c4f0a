"""Issue 12's done-when for the inbox: a pathway driven on the time-skipping server (real worker, real durations)
shows its tasks in ``GET /v1/tasks`` and they close, with their reason, as the awaited steps arrive."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import pytest_asyncio

from domain.pathway import AppointmentEvent, AppointmentKind, OrientationDecision, OrientationTarget
from domain.plein_emploi import FranceTravailRegistered
from pathway_harness import TERRITORY, running_pathway
from workers.api import create_app
from workers.api.auth import ApiTokens, Scope, token_entry
from workers.runtime.config import Settings
from workflows import search_attributes as sa
from workflows.pathway import BeneficiaryPathway
from workflows.pathway_settings import CLOSE_TASKS, PATCHES_IN_START, START_PATCHES

READER = token_entry("dashboard", {Scope.CASE_READ})


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        yield harness


@pytest_asyncio.fixture
async def http(db_pool):
    app = create_app(None, Settings(), db_pool, tokens=ApiTokens.parse(READER))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


async def inbox(http: httpx.AsyncClient, **params) -> dict[str, dict]:
    response = await http.get("/v1/tasks", params=params, headers={"Authorization": f"Bearer {READER.split(':')[1]}"})
    assert response.status_code == 200, response.text
    return {t["kind"]: t for t in response.json()["tasks"]}


async def test_tasks_appear_in_the_inbox_and_close_as_the_steps_arrive(h, http):
    d0 = await h.morning()
    await h.start()
    pid = h.handle.id
    await h.sleep_until(d0 + timedelta(days=21))  # T4: the SLAI manager's reminder
    await h.eventually(lambda: _has(http, "ORIENTATION_REMINDER", pathway=pid, status="OPEN"))
    manager = await inbox(http, assignee=f"SLAI_MANAGER:{TERRITORY}", pathway=pid)
    assert manager["ORIENTATION_REMINDER"]["status"] == "OPEN"

    day = await h.today()
    await h.update(BeneficiaryPathway.orient, OrientationDecision(
        event_id="orient-1", target=OrientationTarget.PLATFORM, structure_id="PF-LENS", notified_on=day))
    await h.eventually(lambda: _has(http, "ORIENTATION_REMINDER", pathway=pid, status="DONE"))
    attributes = await h.search_attributes(lambda a: a.get(sa.REFERENT_STRUCTURE) is not None)
    assert attributes.get(sa.REFERENT_STRUCTURE) == "PF-LENS"  # the structure's caseload in the Temporal UI
    closed = (await inbox(http, pathway=pid))["ORIENTATION_REMINDER"]
    assert (closed["closure_reason"], closed["closed_by"]) == ("ORIENTATION_RECORDED", "workflow")

    await h.sleep_until(day + timedelta(days=10))  # T7: the platform's reminder, no appointment fixed yet
    await h.eventually(lambda: _has(http, "FIRST_APPOINTMENT_REMINDER", assignee="STRUCTURE:PF-LENS", status="OPEN"))
    await h.env.client.get_workflow_handle(pid).signal(BeneficiaryPathway.appointment, AppointmentEvent(
        event_id="appt-1", kind=AppointmentKind.SCHEDULED, appointment_date=await h.today() + timedelta(days=2)))
    await h.eventually(lambda: _has(http, "FIRST_APPOINTMENT_REMINDER", pathway=pid, status="DONE"))
    assert (await inbox(http, pathway=pid))["FIRST_APPOINTMENT_REMINDER"]["closure_reason"] == "APPOINTMENT_RECORDED"
    # a 2025 case (issue 18): its France Travail registration, missing after 30 days, is a task closed by the fact
    waiting = (await inbox(http, pathway=pid, status="OPEN"))["FRANCE_TRAVAIL_REGISTRATION"]
    assert waiting["assignee"] == f"SLAI:{TERRITORY}"
    await h.env.client.get_workflow_handle(pid).signal(BeneficiaryPathway.france_travail_registered,
                                                       FranceTravailRegistered(event_id="ft-1", registered_on=await h.today()))
    await h.eventually(lambda: _has(http, "FRANCE_TRAVAIL_REGISTRATION", pathway=pid, status="DONE"))
    assert await inbox(http, pathway=pid, status="OPEN") == {}
    history = await h.handle.fetch_history()
    markers = [b"".join(x.data for ps in e.marker_recorded_event_attributes.details.values() for x in ps.payloads)
               for e in history.events if e.HasField("marker_recorded_event_attributes")]
    # the path a replay of this run takes: the start patches' marker implies CLOSE_TASKS
    assert CLOSE_TASKS in PATCHES_IN_START and any(START_PATCHES.encode() in m for m in markers)


async def _has(http: httpx.AsyncClient, kind: str, **params) -> bool:
    return kind in await inbox(http, **params)
