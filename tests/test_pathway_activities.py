"""Pathway activities against the embedded PostgreSQL: versioned upserts, idempotent tasks, MonJob62 mapping."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from activities.monjob import MonJobReceipt
from activities.monjob import MonJob62HttpPort
from activities.pathway import InMemoryMonJob62, PathwayReadModel
from domain.deadlines import PARIS, add_months
from domain.pathway import (
    BilanDecision,
    CafSaisine,
    CafSaisineDecision,
    CafSaisineMode,
    CafFirstInterview,
    CerAction,
    CerType,
    CompleteBilan,
    ExitReason,
    GesicaOutcome,
    FlowRecord,
    MonJob62Push,
    Outbox,
    PathwayEffects,
    SignCer,
)
from domain.pathway_rules import Pathway
from domain.rules import RULESET_2023

D0 = date(2023, 3, 6)


def caf_pathway() -> Pathway:
    p = Pathway.new(uuid.uuid4().hex, "CALAISIS", D0)
    p.on_flow_record(FlowRecord(event_id="f", transmission_date=D0, subject_to_duties=True), D0)
    p.caf_saisine(CafSaisine(event_id="c", mode=CafSaisineMode.M1, requested_on=D0, caf_structure_id="CAF62",
                             rsa_majore=True, followed_by_caf_social_worker=True), D0)
    p.decide_caf_saisine(CafSaisineDecision(event_id="d", accepted=True, decided_on=D0), D0)
    p.caf_first_interview(CafFirstInterview(event_id="i", held_on=D0, within_caf_competence=True), D0)
    p.sign_cer(SignCer(event_id="s", cer_id="cer-1", type=CerType.SOLIDARITE, start=D0, end=add_months(D0, 6),
                       signed_on=D0, actions=[CerAction(start=D0, end=D0 + timedelta(days=30))]), D0)
    return p


def take(p: Pathway) -> PathwayEffects:
    effects = PathwayEffects(row=p.row(), outbox=p.s.outbox)
    p.s.outbox = Outbox()
    return effects


async def test_effects_are_written_once_and_late_writes_do_nothing(db_pool):
    model = PathwayReadModel(db_pool)
    p = caf_pathway()
    first = take(p)
    await model.write(first)
    await model.write(first)  # a retried activity
    pid = p.workflow_id
    assert await db_pool.fetchval("SELECT stage FROM pathways WHERE pathway_id = $1", pid) == "CER_ACTIVE"
    changes = await db_pool.fetch("SELECT to_stage FROM stage_changes WHERE pathway_id = $1 ORDER BY seq", pid)
    assert [r["to_stage"] for r in changes] == ["AWAITING_ORIENTATION", "CAF_SAISINE", "REFERENT_DESIGNATED",
                                                "CAF_FIRST_INTERVIEW", "CER_DRAFTING", "CER_ACTIVE"]
    tasks = await db_pool.fetchval("SELECT count(*) FROM human_tasks WHERE workflow_id = $1", pid)
    assert tasks == 1  # VALIDATE_CAF_SAISINE, not duplicated

    end = add_months(D0, 6)
    p.expire(datetime.combine(end + timedelta(days=1), time(12), tzinfo=PARIS))
    p.complete_bilan(CompleteBilan(event_id="b", completed_on=end + timedelta(days=1), decision=BilanDecision.CONTINUE,
                                   global_outcome="Objectifs atteints"), end + timedelta(days=1))
    second = take(p)
    await model.write(second)
    await model.write(first)  # a late write of an older version
    row = await db_pool.fetchrow("SELECT stage, version FROM pathways WHERE pathway_id = $1", pid)
    assert (row["stage"], row["version"]) == ("CER_DRAFTING", p.s.seq)
    cer_end = await db_pool.fetchrow("SELECT status, version FROM deadlines WHERE pathway_id = $1 AND kind = 'CER_END'", pid)
    assert cer_end["status"] == "FIRED"
    assert await model.caf_accompaniments(2023) >= 1
    quota = await model.caf_quota(2023, RULESET_2023)
    assert quota.year == 2023 and quota.widening_possible


async def test_in_memory_monjob62_keeps_the_first_push_of_a_key():
    fake = InMemoryMonJob62()
    push = MonJob62Push(kind="EXIT", idempotency_key="pathway-x:EXIT:1",
                        data={"person_id": "p-x", "reason": "AUTRE", "closed_on": "2024-09-14"})
    assert await fake.push(push) == "accepted"
    assert await fake.push(push) == "duplicate"


class RecordingClient:
    def __init__(self):
        self.calls = []

    async def _record(self, kind, payload, idempotency_key):
        self.calls.append((kind, payload, idempotency_key))
        return MonJobReceipt(record_id="r1", kind=kind, idempotency_key=idempotency_key)

    async def push_cer(self, cer, *, idempotency_key):
        return await self._record("cer", cer, idempotency_key)

    async def push_bilan(self, bilan, *, idempotency_key):
        return await self._record("bilan", bilan, idempotency_key)

    async def push_exit(self, exit_, *, idempotency_key):
        return await self._record("exit", exit_, idempotency_key)


async def test_pathway_pushes_map_onto_the_monjob62_wire_contract():
    p = caf_pathway()
    end = add_months(D0, 6)
    p.expire(datetime.combine(end + timedelta(days=1), time(12), tzinfo=PARIS))
    p.complete_bilan(CompleteBilan(event_id="b", completed_on=end, decision=BilanDecision.CONTINUE,
                                   global_outcome="Objectifs atteints",
                                   domain_outcomes=[GesicaOutcome(domain="INSERTION", outcome="CDI")]), end)
    p._close(ExitReason.NON_RESPECT_OBLIGATIONS, end)
    client = RecordingClient()
    port = MonJob62HttpPort(client)
    for item in p.s.outbox.pushes:
        assert await port.push(item) == "accepted"
    kinds = [(c[0], c[2]) for c in client.calls]
    assert kinds == [("cer", f"{p.workflow_id}:CER:cer-1"), ("bilan", f"{p.workflow_id}:BILAN:cer-1"),
                     ("exit", p.s.outbox.pushes[-1].idempotency_key)]
    assert client.calls[1][1].caf_min_physical_appointments_met is False
    assert client.calls[0][1].cer_type is CerType.SOLIDARITE and client.calls[0][1].structure_id == "CAF62"
    assert client.calls[2][1].reason is ExitReason.NON_RESPECT_OBLIGATIONS
