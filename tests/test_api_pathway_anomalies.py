"""``GET /v1/pathways/{id}`` shows the pathway's anomalies from the read model (codes, the day, whether its
``REFUSED_EVENT`` task is still open), to every reader of the case and without the sender's event id."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from domain.pathway import AppointmentEvent, AppointmentKind
from domain.pathway_contract import Signal
from tests.api_harness import DASHBOARD, REFERENT_TOOL, _api, _auth, _new_nir, _orientation, env  # noqa: F401

ONE_BATCH = datetime(2026, 1, 1, tzinfo=timezone.utc)  # recorded by one activity: the ids alone order them


async def test_an_anomaly_appears_open_then_closed_once_its_task_is_done(env, task_queue, db_pool):
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        nir, _ = _new_nir()
        pathway_id = (await api.start(nir)).json()["pathway_id"]
        case = await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        assert case["anomalies"] == []
        oriented = await api.http.post(f"/v1/pathways/{pathway_id}/orientation", json=_orientation(today),
                                       headers=_auth(REFERENT_TOOL))
        assert oriented.status_code == 200, oriented.text
        event_id = f"missed-{uuid.uuid4().hex}"
        await env.client.get_workflow_handle(pathway_id).signal(Signal.APPOINTMENT, AppointmentEvent(
            event_id=event_id, kind=AppointmentKind.MISSED, appointment_date=today))

        case = await api.read(pathway_id, DASHBOARD, until=lambda c: c["anomalies"])
        (anomaly,) = case["anomalies"]
        assert {k: anomaly[k] for k in ("message", "code", "stage", "received_on", "status", "open")} == {
            "message": "appointment", "code": "STAGE_NOT_ALLOWED", "stage": "REFERENT_DESIGNATED",
            "received_on": today.isoformat(), "status": "OPEN", "open": True}
        assert set(anomaly) == {"anomaly_id", "message", "code", "stage", "received_on", "status", "open"}
        assert event_id not in str(case)

        task_id = await db_pool.fetchval("SELECT task_id FROM human_tasks WHERE task_key = $1",
                                         f"{pathway_id}:REFUSED_EVENT:{anomaly['anomaly_id']}")
        done = await api.http.post(f"/v1/tasks/{task_id}/complete", json={"outcome": "HANDLED"},
                                   headers=_auth(REFERENT_TOOL))
        assert done.status_code == 200, done.text
        case = await api.read(pathway_id, DASHBOARD)
        assert [(a["anomaly_id"], a["status"], a["open"]) for a in case["anomalies"]] == [
            (anomaly["anomaly_id"], "DONE", False)]


async def test_the_anomalies_are_the_last_twenty_oldest_first_in_sequence_order(env, task_queue, db_pool):
    """Read from the table: ``anomaly-10`` follows ``anomaly-9`` (not text order); only the last 20 are shown."""
    async with _api(env, task_queue, db_pool) as api:
        nir, _ = _new_nir()
        pathway_id = (await api.start(nir)).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        await db_pool.executemany(
            """INSERT INTO pathway_anomalies (pathway_id, anomaly_id, message, event_id, code, stage, received_on,
                                              recorded_at)
               VALUES ($1, $2, 'left_rsa', $3, 'IMPLAUSIBLE_DATE', 'AWAITING_ORIENTATION', current_date, $4)""",
            [(pathway_id, f"anomaly-{n}", f"e-{n}", ONE_BATCH) for n in range(1, 26)])
        case = await api.read(pathway_id, DASHBOARD)
        assert [a["anomaly_id"] for a in case["anomalies"]] == [f"anomaly-{n}" for n in range(6, 26)]
        assert all(a["status"] is None and a["open"] is False for a in case["anomalies"])
