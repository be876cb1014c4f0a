"""Pathway endpoints through the real BeneficiaryPathway workflow and the production registry.

On the dev server: the updates' round-trips need no time skipping (a CER whose dates are past brings the bilan
due at once), and terminating a case with work in flight cannot stall the shared time-skipping server
(a known test-server bug leaks its time lock then).
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

from domain.deadlines import add_months
from domain.identity import person_id
from tests.api_harness import (  # noqa: F401  (env: fixture)
    CAF, DASHBOARD, REFERENT_TOOL, SETTINGS_SECRET, _api, _auth, _cer, _new_nir, _orientation, _poster, env,
)
from workers.runtime.codec import ENCODING
from workers.runtime.logging import configure_logging


async def test_start_from_a_nir_gives_the_opaque_pathway_and_no_personal_data(env, task_queue, db_pool):
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    nir, body13 = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        key = str(uuid.uuid4())
        started = await api.start(nir, key)
        assert started.status_code == 202, started.text
        pathway_id = started.json()["pathway_id"]
        assert pathway_id == f"pathway-{person_id(nir, SETTINGS_SECRET)}"
        assert started.json()["event"] == "flow_record"

        replay = await api.start(nir, key)
        assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == started.json()
        other_person, _ = _new_nir()
        reused = await api.start(other_person, key)
        assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"

        case = await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        assert case["source"] == "workflow" and case["status"] == "running"
        orientation = [d for d in case["deadlines"] if d["kind"] == "ORIENTATION"]
        assert orientation and orientation[0]["due"] == add_months(await api.today(), 1).isoformat()
        assert case["personal"] is None

        second = await api.start(nir.replace("75", " 75 ", 1), str(uuid.uuid4()))  # same person, spaced
        assert second.status_code == 202 and second.json()["pathway_id"] == pathway_id
        resolved = await api.http.post("/v1/pathways/resolve", json={"nir": nir}, headers=_auth(DASHBOARD))
        assert resolved.json() == {"pathway_id": pathway_id}

        handle = env.client.get_workflow_handle(pathway_id)
        description = await handle.describe()
        history = await handle.fetch_history()
        started_input = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert started_input.metadata["encoding"] == ENCODING  # encrypted, as in production
        exposed = (pathway_id + str(description.typed_search_attributes) + str(description.raw_description)
                   + history.to_json() + stream.getvalue() + started.text + second.text)
        assert body13 not in exposed
        assert '"api_request"' in stream.getvalue()  # the access log was captured, and is clean


async def test_left_rsa_without_referent_closes_the_pathway(env, task_queue, db_pool):
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        pathway_id = (await api.start(nir)).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        body = {"end_of_payment_date": (await api.today()).isoformat(), "reason": "ressources"}
        left = await api.http.post(f"/v1/pathways/{pathway_id}/left-rsa", json=body, headers=_auth(CAF))
        assert left.status_code == 202, left.text
        assert left.json()["event"] == "left_rsa" and left.json()["event_id"].startswith("api-")

        closed = await api.read(pathway_id, REFERENT_TOOL, until=lambda c: c["stage"] == "CLOSED")
        assert closed["personal"]["exit_reason"] == "SORTIE_RSA"
        dashboard = await api.read(pathway_id)
        assert dashboard["personal"] is None  # same case, no personal_data scope


async def test_orientation_cer_appointment_and_left_rsa(env, task_queue, db_pool):
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        pathway_id = (await api.start(nir)).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        post = _poster(api, pathway_id)

        no_reason = await post("orientation", _orientation(today, bypass_reason=None))
        assert no_reason.status_code == 409
        assert no_reason.json()["error"]["rule"] == "ORIENTATION_BYPASS_REASON_REQUIRED"
        assert "needs a reason" in no_reason.json()["error"]["message"]

        key = str(uuid.uuid4())
        oriented = await post("orientation", _orientation(today), key)
        assert oriented.status_code == 200, oriented.text
        assert oriented.json()["stage"] == "REFERENT_DESIGNATED" and oriented.json()["duplicate"] is False
        again = await post("orientation", _orientation(today), key)
        assert again.headers["Idempotent-Replayed"] == "true" and again.json() == oriented.json()
        same_event = await post("orientation", _orientation(today, event_id=oriented.json()["event_id"]))
        assert same_event.status_code == 200 and same_event.json()["duplicate"] is True  # the workflow dedupes

        # entered today, under the 2025 rules: the contrat d'engagement replaces the CER (§8.3)
        replaced = await post("cer", _cer(today, add_months(today, 6) - timedelta(days=1)))
        assert replaced.status_code == 409 and replaced.json()["error"]["rule"] == "CER_REPLACED_BY_CONTRAT_ENGAGEMENT"
        too_long = await post("contrat-engagement", {**_cer(today, add_months(today, 7)), "weekly_hours": 15})
        assert too_long.status_code == 409
        assert too_long.json()["error"]["rule"] == "CER_MAX_DURATION" and "6 months" in too_long.json()["error"]["message"]
        signed = await post("contrat-engagement", {**_cer(today, add_months(today, 6) - timedelta(days=1)),
                                                   "weekly_hours": 15})
        assert signed.status_code == 200 and signed.json()["stage"] == "CER_ACTIVE"

        early_bilan = await post("bilan", {"completed_on": today.isoformat(), "decision": "CONTINUE"})
        assert early_bilan.status_code == 409 and early_bilan.json()["error"]["rule"] == "STAGE_NOT_ALLOWED"

        held = await post("appointments", {"kind": "HELD", "appointment_date": today.isoformat(), "physical": True})
        assert held.status_code == 200 and held.json()["event"] == "record_appointment"  # an update: answered
        case = await api.read(pathway_id, REFERENT_TOOL,
                              until=lambda c: (c["personal"]["active_cer"] or {}).get("physical_appointments") == 1)
        assert case["referent_type"] == "REFERENT_SOLIDARITE" and case["referent_structure_id"] == "CCAS-LENS"
        assert {d["kind"] for d in case["deadlines"]} >= {"CER_END", "BILAN_REMINDER"}
        assert (await api.read(pathway_id))["personal"] is None  # the same case without personal_data

        left = await post("left-rsa", {"end_of_payment_date": today.isoformat(), "reason": "emploi"})
        assert left.status_code == 202
        exit_case = await api.read(pathway_id, until=lambda c: c["stage"] == "EXIT_CHOICE_PENDING")
        assert "EXIT_CHOICE" in {d["kind"] for d in exit_case["deadlines"]}


async def test_bilan_once_the_cer_has_ended(env, task_queue, db_pool):
    """A CER signed with past dates: its end has passed, so the bilan is due at once (no time skipping)."""
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        entry = add_months(today, -8)
        pathway_id = (await api.start(nir, transmission_date=entry.isoformat())).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        post = _poster(api, pathway_id)
        designated = add_months(entry, 1) - timedelta(days=3)
        assert (await post("orientation", _orientation(designated))).status_code == 200
        signed = await post("contrat-engagement", {**_cer(designated, add_months(designated, 6) - timedelta(days=1)),
                                                   "weekly_hours": 15})
        assert signed.status_code == 200, signed.text
        await api.read(pathway_id, until=lambda c: c["stage"] == "BILAN")

        reorient_without_reason = await post("bilan", {"completed_on": today.isoformat(), "decision": "REORIENT"})
        assert reorient_without_reason.status_code == 409
        assert reorient_without_reason.json()["error"]["rule"] == "BILAN_REORIENTATION_REASON_REQUIRED"
        bilan = await post("bilan", {"completed_on": today.isoformat(), "decision": "CONTINUE"})
        assert bilan.status_code == 200, bilan.text
        assert bilan.json()["stage"] == "CER_DRAFTING"
        case = await api.read(pathway_id, REFERENT_TOOL, until=lambda c: c["stage"] == "CER_DRAFTING")
        assert case["personal"]["active_cer"] is None
        assert [c["to_stage"] for c in case["personal"]["stage_history"]][-2:] == ["BILAN", "CER_DRAFTING"]


async def test_events_to_an_unknown_or_closed_pathway(env, task_queue, db_pool):
    async with _api(env, task_queue, db_pool) as api:
        unknown = "pathway-" + uuid.uuid4().hex
        body = {"end_of_payment_date": (await api.today()).isoformat(), "reason": "x"}
        missing = await api.http.post(f"/v1/pathways/{unknown}/left-rsa", json=body, headers=_auth(CAF))
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert (await api.http.get(f"/v1/pathways/{unknown}", headers=_auth(DASHBOARD))).status_code == 404

        pathway_id = (await api.start(_new_nir()[0])).json()["pathway_id"]
        await api.read(pathway_id, until=lambda c: c["stage"] == "AWAITING_ORIENTATION")
        await env.client.get_workflow_handle(pathway_id).terminate("closed for the test")
        late = await api.http.post(f"/v1/pathways/{pathway_id}/left-rsa", json=body, headers=_auth(CAF))
        assert late.status_code == 409 and late.json()["error"]["code"] == "case_closed"
        closed = await api.http.get(f"/v1/pathways/{pathway_id}", headers=_auth(DASHBOARD))
        assert closed.status_code == 200 and closed.json()["status"] == "terminated"
