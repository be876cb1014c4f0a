"""Issue 12 through HTTP alone: a pathway driven from the CAF transmission to a signed CER on the platform route
and on the CAF route, then bilan, reorientation, left RSA and re-entry — every command an update answered at
once, refused with its rule (409, nothing recorded), and recorded with who sent it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata

from domain.deadlines import add_months
from domain.pathway_caf import GESICA
from tests.api_harness import (  # noqa: F401  (env: fixture)
    CAF, DASHBOARD, REFERENT_TOOL, _api, _auth, _cer, _new_nir, _orientation, env,
)

AGENT = "agent:7f3a9c01"
SLAI_AGENT = "agent:slai-0042"


class Case:
    """One pathway seen through the API: ``post`` a command as a person of the referent's tool."""

    def __init__(self, api, pathway_id: str, entry: date) -> None:
        self.api, self.id, self.entry = api, pathway_id, entry

    def day(self, n: int) -> str:
        """The entry date + ``n`` days, as the API writes it."""
        return (self.entry + timedelta(days=n)).isoformat()

    async def post(self, path: str, body: dict, actor: str = AGENT, entry: str = REFERENT_TOOL):
        return await self.api.http.post(f"/v1/pathways/{self.id}/{path}", json=body, headers=_auth(entry, actor=actor))

    async def ok(self, path: str, body: dict, stage: str | None = None, actor: str = AGENT) -> dict:
        response = await self.post(path, body, actor)
        assert response.status_code == 200, (path, response.text)
        if stage is not None:
            assert response.json()["stage"] == stage, (path, response.json())
        return response.json()

    async def refused(self, path: str, body: dict, rule: str) -> dict:
        """409 with the rule, and nothing recorded: same stage, no new decision."""
        before = await self.read()
        response = await self.post(path, body)
        assert response.status_code == 409, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "refused" and error["rule"] == rule and error["message"], error
        after = await self.read()
        assert (after["stage"], after["decisions"]) == (before["stage"], before["decisions"])
        return error

    async def read(self, until=lambda case: True) -> dict:
        return await self.api.read(self.id, REFERENT_TOOL, until=until)

    async def stage(self, stage: str) -> dict:
        return await self.read(lambda c: c["stage"] == stage)

    async def tasks(self, until=lambda tasks: True, attempts: int = 200) -> dict[str, tuple[str, str | None]]:
        """The case's tasks in the inbox (``GET /v1/tasks``), as {kind: (status, closure reason)}, polled until
        ``until`` holds: the read model is written by the workflow's activities, just after the command."""
        tasks: dict[str, tuple[str, str | None]] = {}
        for _ in range(attempts):
            response = await self.api.http.get("/v1/tasks", params={"pathway": self.id, "limit": 100},
                                               headers=_auth(DASHBOARD))
            assert response.status_code == 200, response.text
            tasks = {t["kind"]: (t["status"], t["closure_reason"]) for t in response.json()["tasks"]}
            if until(tasks):
                return tasks
            await asyncio.sleep(0.05)
        raise AssertionError(f"the inbox never showed what was awaited: {tasks}")


async def _start(api, nir: str, entry: date) -> Case:
    started = await api.start(nir, transmission_date=entry.isoformat())
    assert started.status_code == 202, started.text
    case = Case(api, started.json()["pathway_id"], entry)
    await case.stage("AWAITING_ORIENTATION")
    return case


def _socio_cer(start: date, cer_id: str) -> dict:
    end = add_months(start, 6) - timedelta(days=1)
    actions = [{"start": start.isoformat(), "end": end.isoformat(), "professional_insertion": i == 0}
               for i in range(3)]
    return {"cer_id": cer_id, "type": "SOCIOPROFESSIONNEL", "start": start.isoformat(), "end": end.isoformat(),
            "signed_on": start.isoformat(), "actions": actions, "weekly_hours": 15}


async def test_platform_route_to_bilan_reorientation_left_rsa_and_reentry(env, task_queue, db_pool):
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        case = await _start(api, nir, add_months(today, -10))
        entry, day = case.entry, case.day
        await case.tasks(lambda t: t.get("ESCALATION_ORIENTATION", ("",))[0] == "OPEN")  # 10 months late

        await case.refused("appointments", {"kind": "MISSED", "appointment_date": day(1)}, "STAGE_NOT_ALLOWED")
        await case.refused("orientation", {"target": "CAF", "structure_id": "CAF62", "notified_on": day(5)},
                           "ORIENTATION_CAF_BY_SAISINE")
        await case.ok("orientation", {"target": "PLATFORM", "structure_id": "PLATEFORME-LENS", "notified_on": day(5)},
                      "ORIENTED_TO_PLATFORM")
        closed = await case.tasks(lambda t: t["ESCALATION_ORIENTATION"][0] != "OPEN")
        # notified on day 5, in time, but recorded 10 months late: the breach is withdrawn with its escalation (T4)
        assert closed["ESCALATION_ORIENTATION"] == ("CANCELLED", "BREACH_WITHDRAWN"), closed
        await case.ok("appointments", {"kind": "SCHEDULED", "appointment_date": day(10)}, "PLATFORM_FIRST_APPOINTMENT")
        await case.ok("appointments", {"kind": "HELD", "appointment_date": day(10)}, "PLATFORM_DIAGNOSTIC_AND_FIRST_CER")
        await case.refused("preconisation", {"target": "REFERENT_SOCIOPRO", "structure_id": "ASSO-EMPLOI",
                                             "submitted_on": day(11)}, "PRECONISATION_WITHOUT_DIAGNOSTIC")
        await case.ok("diagnostic", {"completed_on": day(11)})
        first = _cer(entry + timedelta(days=11), entry + timedelta(days=70))
        # entered under the 2025 rules: the contrat d'engagement replaces the CER (§8.3), 409 naming its route
        replaced = await case.refused("cer", first, "CER_REPLACED_BY_CONTRAT_ENGAGEMENT")
        assert replaced["reference"] == "§8.3" and "contrat-engagement" in replaced["message"]
        await case.ok("contrat-engagement", {**first, "weekly_hours": 15}, "PLATFORM_DIAGNOSTIC_AND_FIRST_CER")
        await case.ok("preconisation", {"target": "REFERENT_SOCIOPRO", "structure_id": "ASSO-EMPLOI",
                                        "submitted_on": day(14)}, "AWAITING_SLAI_VALIDATION")
        await case.tasks(lambda t: t.get("VALIDATE_PRECONISATION", ("",))[0] == "OPEN")
        await case.ok("preconisation-decision", {"decided_on": day(16)}, "REFERENT_DESIGNATED", actor=SLAI_AGENT)
        await case.tasks(lambda t: t["VALIDATE_PRECONISATION"][0] == "DONE")

        too_few = _socio_cer(entry + timedelta(days=20), "cer-socio")
        too_few["actions"] = too_few["actions"][:1]
        assert (await case.refused("contrat-engagement", too_few, "CER_SOCIOPRO_MIN_ACTIONS"))["reference"] == "R23"
        await case.ok("contrat-engagement", _socio_cer(entry + timedelta(days=20), "cer-socio"), "CER_ACTIVE")
        await case.stage("BILAN")  # the CER's dates are past: its end has fired

        refusal = await case.refused("reorientation-request", {"reason": "AUTRE", "requested_on": today.isoformat()},
                                     "REORIENTATION_AUTRE_JUSTIFICATION")
        assert refusal["reference"] == "§3.5"
        await case.refused("bilan", {"completed_on": today.isoformat(), "decision": "REORIENT"},
                           "BILAN_REORIENTATION_REASON_REQUIRED")
        await case.ok("bilan", {"completed_on": today.isoformat(), "decision": "REORIENT",
                                "reorientation_reason": "EVOLUTION_BLOQUEE"}, "REORIENTATION_REQUESTED")
        await case.refused("reorientation-decision", {"decided_on": today.isoformat(), "approved": True},
                           "REORIENTATION_TARGET_REQUIRED")
        await case.ok("reorientation-decision", {"decided_on": today.isoformat(), "approved": True,
                                                 "target": "REFERENT_SOLIDARITE", "structure_id": "CCAS-LENS"},
                      "REFERENT_DESIGNATED", actor=SLAI_AGENT)

        await case.refused("exit-choice", {"continue_accompaniment": False, "decided_on": today.isoformat()},
                           "STAGE_NOT_ALLOWED")
        left = await api.http.post(f"/v1/pathways/{case.id}/left-rsa", headers=_auth(CAF, actor="agent:caf-flux"),
                                   json={"end_of_payment_date": today.isoformat(), "reason": "emploi"})
        assert left.status_code == 202, left.text
        await case.stage("EXIT_CHOICE_PENDING")
        await case.tasks(lambda t: t.get("CHOOSE_AFTER_EXIT", ("",))[0] == "OPEN")
        await case.ok("exit-choice", {"continue_accompaniment": False, "decided_on": today.isoformat()}, "CLOSED")
        await case.tasks(lambda t: t["CHOOSE_AFTER_EXIT"][0] == "DONE")

        back = await api.start(nir, transmission_date=today.isoformat())  # re-entry within 6 months (T25)
        assert back.status_code == 202 and back.json()["pathway_id"] == case.id
        reentered = await case.read(lambda c: c["stage"] == "REFERENT_DESIGNATED" and c["status"] == "running")
        assert reentered["referent_structure_id"] == "CCAS-LENS" and reentered["personal"]["exit_reason"] is None

        decisions = reentered["decisions"]
        assert [d["command"] for d in decisions][-3:] == ["complete_bilan", "decide_reorientation", "choose_after_exit"]
        assert {(d["command"], d["actor"]) for d in decisions} >= {
            ("decide_reorientation", SLAI_AGENT), ("complete_bilan", AGENT)}
        assert all(d["service"] == "referent-tool" for d in decisions)
        rows = await db_pool.fetch("SELECT command, actor, service FROM pathway_decisions WHERE pathway_id = $1 "
                                   "ORDER BY seq", case.id)
        assert [r["command"] for r in rows][-3:] == ["complete_bilan", "decide_reorientation", "choose_after_exit"]
        assert rows[-2]["actor"] == SLAI_AGENT and rows[-2]["service"] == "referent-tool"
        metadata = await api.env.client.get_workflow_handle(case.id).query("__temporal_workflow_metadata",
                                                                           result_type=WorkflowMetadata)
        assert f"last: choose_after_exit by {AGENT} via referent-tool" in metadata.current_details


async def test_caf_route_to_a_signed_cer_and_its_gesica_bilan(env, task_queue, db_pool):
    nir, _ = _new_nir()
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        case = await _start(api, nir, add_months(today, -10))
        entry, day = case.entry, case.day
        saisine = {"mode": "M1", "requested_on": day(3), "caf_structure_id": "CAF62", "rsa_majore": True,
                   "followed_by_caf_social_worker": True}
        await case.refused("caf-saisine", {**saisine, "gens_du_voyage": True}, "CAF_EXCLUSION_GENS_DU_VOYAGE")
        await case.ok("caf-saisine", saisine, "CAF_SAISINE")
        await case.ok("caf-saisine-decision", {"accepted": True, "decided_on": day(6)}, "CAF_FIRST_INTERVIEW",
                      actor=SLAI_AGENT)
        await case.ok("caf-first-interview", {"held_on": day(9), "within_caf_competence": True}, "CER_DRAFTING")
        start = entry + timedelta(days=12)
        caf_cer = {**_cer(start, add_months(start, 6) - timedelta(days=1)), "weekly_hours": 15}
        await case.refused("contrat-engagement", caf_cer, "GESICA_CER_DOMAIN_REQUIRED")  # §3.8: its GESICA domain
        await case.ok("contrat-engagement", {**caf_cer, "gesica_domain": "BUDGET",
                              "gesica_objectives": ["Maintenir un équilibre budgétaire"]}, "CER_ACTIVE")
        await case.stage("BILAN")
        await case.refused("bilan", {"completed_on": today.isoformat(), "decision": "CONTINUE"},
                           "GESICA_GLOBAL_OUTCOME_REQUIRED")
        outcome = sorted(GESICA.global_outcomes)[0]
        await case.ok("bilan", {"completed_on": today.isoformat(), "decision": "CONTINUE", "global_outcome": outcome},
                      "CER_DRAFTING")
        case_now = await case.read()
        assert [d["command"] for d in case_now["decisions"]][-1] == "complete_bilan"


async def test_ep_family_and_other_refusals_answer_409_with_their_rule(env, task_queue, db_pool):
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        case = await _start(api, _new_nir()[0], today - timedelta(days=3))
        await case.refused("ep-referral", {"confirmed": True, "decided_on": today.isoformat()}, "EP_NO_PROPOSAL")
        await case.refused("ep-decision", {"outcome": "MAINTAIN", "decided_on": today.isoformat()},
                           "STAGE_NOT_ALLOWED")
        await case.refused("diagnostic", {"completed_on": today.isoformat()}, "STAGE_NOT_ALLOWED")
        await case.refused("lost-from-view-convocations",
                           {"convocation_id": "conv-1", "convoked_on": (today + timedelta(days=3)).isoformat(),
                            "appointment_date": (today + timedelta(days=10)).isoformat()}, "DATE_IN_FUTURE")
        await case.ok("orientation", _orientation(today), "REFERENT_DESIGNATED")
        await case.ok("non-compliance", {"kind": "NON_ADHESION", "reported_on": today.isoformat()},
                      "REFERENT_DESIGNATED")
        await case.ok("ep-referral", {"confirmed": True, "decided_on": today.isoformat()}, "NON_COMPLIANCE_EP")
        await case.ok("ep-decision", {"outcome": "MAINTAIN", "decided_on": today.isoformat()}, "REFERENT_DESIGNATED")


async def test_actor_is_required_on_a_persons_command_and_never_a_name(env, task_queue, db_pool):
    async with _api(env, task_queue, db_pool) as api:
        today = await api.today()
        case = await _start(api, _new_nir()[0], today)
        headers = _auth(REFERENT_TOOL)
        for actor in (None, "Jean Dupont", "agent:jean.dupont", "agent:" + "x" * 70, "agent:a\x00bc"):
            sent = {k: v for k, v in headers.items() if k != "X-Actor"}
            if actor is not None:
                sent["X-Actor"] = actor
            try:
                response = await api.http.post(f"/v1/pathways/{case.id}/orientation", json=_orientation(today),
                                               headers=sent)
            except Exception:  # httpx itself refuses a NUL in a header: nothing was sent
                continue
            assert response.status_code == 422, (actor, response.text)
            assert response.json()["error"]["field"] == "header X-Actor"
            assert "Dupont" not in response.text
        assert (await case.read())["stage"] == "AWAITING_ORIENTATION"


async def test_bad_dates_unknown_cases_and_reused_event_ids_change_nothing(env, task_queue, db_pool):
    async with _api(env, task_queue, db_pool) as api:
        for bad in ("1900-01-01", "0001-01-01", "9999-12-31", 1764547200):
            nir, _ = _new_nir()
            response = await api.start(nir, transmission_date=bad)
            assert response.status_code == 422, (bad, response.text)
            assert response.json()["error"]["field"] == "transmission_date"
            resolved = await api.http.post("/v1/pathways/resolve", json={"nir": nir}, headers=_auth(DASHBOARD))
            missing = await api.http.get(f"/v1/pathways/{resolved.json()['pathway_id']}", headers=_auth(DASHBOARD))
            assert missing.status_code == 404  # no workflow was started
        loose = await api.start(_new_nir()[0], subject_to_duties="yes")
        assert loose.status_code == 422 and loose.json()["error"]["field"] == "subject_to_duties"

        unknown = "pathway-" + uuid.uuid4().hex
        today = await api.today()
        for path, body in (("orientation", _orientation(today)), ("diagnostic", {"completed_on": today.isoformat()})):
            answer = await api.http.post(f"/v1/pathways/{unknown}/{path}", json=body, headers=_auth(REFERENT_TOOL))
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", answer.text
        assert (await api.http.get(f"/v1/pathways/{unknown}", headers=_auth(DASHBOARD))).status_code == 404
        assert not await db_pool.fetchval("SELECT count(*) FROM api_event_ids WHERE workflow_id = $1", unknown)

        case = await _start(api, _new_nir()[0], today)
        oriented = await case.ok("orientation", _orientation(today, event_id="tool-evt-1"), "REFERENT_DESIGNATED")
        assert oriented["duplicate"] is False
        again = await case.ok("orientation", _orientation(today, event_id="tool-evt-1"))
        assert again["duplicate"] is True
        reused = await case.post("cer", {**_cer(today, add_months(today, 6) - timedelta(days=1)),
                                         "event_id": "tool-evt-1"})
        assert reused.status_code == 409 and reused.json()["error"]["code"] == "event_id_reused", reused.text
        assert (await case.read())["stage"] == "REFERENT_DESIGNATED"


async def test_a_label_event_id_reused_with_another_command_is_409(env, task_queue, db_pool):
    from tests.test_api_label import DEPOSANT, DPID, _api as label_api

    structure = f"S{uuid.uuid4().hex[:10]}"
    async with label_api(env, task_queue, db_pool) as http:
        submitted = await http.post("/v1/label-applications", headers=_auth(DEPOSANT), json={
            "structure_id": structure, "application_no": 1, "territory": "ARTOIS",
            "filed_on": (date.today() - timedelta(days=20)).isoformat()})
        assert submitted.status_code == 200, submitted.text
        application = submitted.json()["case_id"]
        evaluation = {"training_ok": True, "cer_average": 8.4, "seed": "seed-1", "event_id": "dpid-42"}
        first = await http.post(f"/v1/label-applications/{application}/admin-evaluation", json=evaluation,
                                headers=_auth(DPID))
        assert first.status_code == 200 and first.json()["duplicate"] is False, first.text
        again = await http.post(f"/v1/label-applications/{application}/admin-evaluation", json=evaluation,
                                headers=_auth(DPID))
        assert again.status_code == 200 and again.json()["duplicate"] is True
        reused = await http.post(f"/v1/label-applications/{application}/slai-opinion", headers=_auth(DPID),
                                 json={"confirmed": True, "training_ok": True, "cer_average": 8.4,
                                       "event_id": "dpid-42"})
        assert reused.status_code == 409 and reused.json()["error"]["code"] == "event_id_reused", reused.text
        state = (await http.get(f"/v1/label-applications/{application}", headers=_auth(DPID))).json()
        assert state["stage"] == "SLAI_CONSOLIDATION"  # the opinion was not recorded
