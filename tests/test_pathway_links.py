"""Signals from the other sides of the system on a running BeneficiaryPathway: the label side
(``structure_label_lost``, issue 4 item 6) and the flow import (payment suspension / resumption and G-B8
"non soumis" confirmation, issue 5). Real worker, time-skipping server, real durations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest_asyncio

from activities.label_pathways import LabelLostNotice
from domain.deadlines import add_months
from domain.label_events import STRUCTURE_LABEL_LOST_SIGNAL, LabelLossReason, StructureLabelLost, label_lost_event_id
from domain.pathway import (
    CerAction,
    CerType,
    NotSubjectConfirmed,
    PaymentResumed,
    PaymentSuspended,
    SignCer,
    Stage,
)
from pathway_harness import TERRITORY, Harness, contract, running_pathway
from workflows.pathway import BeneficiaryPathway


@pytest_asyncio.fixture
async def h(db_pool, task_queue, test_keyring):
    async with running_pathway(db_pool, task_queue, keyring=test_keyring) as harness:
        yield harness


async def with_active_cer(h: Harness, structure_id: str = "SOCIO-7") -> date:
    d0 = await h.designated(structure_id)
    acts = [CerAction(start=d0, end=d0 + timedelta(days=60), professional_insertion=i == 0) for i in range(3)]
    await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
        event_id="c", cer_id="cer-1", type=CerType.SOCIOPROFESSIONNEL, start=d0, end=add_months(d0, 6), signed_on=d0,
        actions=acts)))
    await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
    return d0


async def tasks(h: Harness, kind: str) -> list[dict]:
    rows = await h.pool.fetch("SELECT assignee, details FROM human_tasks WHERE workflow_id = $1 AND kind = $2",
                              h.handle.id, kind)
    return [dict(r) for r in rows]


# ------------------------------------------------------------------ label lost (issue 4 item 6)


def label_lost(structure_id: str, day: date) -> StructureLabelLost:
    """The payload the label side sends (``activities.label_pathways``), event id included."""
    notice = LabelLostNotice(label_workflow_id=f"label-{structure_id}-1", structure_id=structure_id,
                             reason=LabelLossReason.EXPIRED.value, effective_date=day)
    return StructureLabelLost(event_id=label_lost_event_id(notice.label_workflow_id, notice.reason, day),
                              structure_id=structure_id, reason=notice.reason, effective_date=day)


async def test_label_lost_by_the_referents_structure_creates_one_reorientation_task_for_the_slai(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=40))
    lost = label_lost("SOCIO-7", await h.today())
    await h.handle.signal(STRUCTURE_LABEL_LOST_SIGNAL, lost)
    await h.handle.signal(STRUCTURE_LABEL_LOST_SIGNAL, lost)  # a retried notification: ignored
    view = await h.view(lambda v: v.label_losses)
    assert [(x.structure_id, x.reason, x.effective_date) for x in view.label_losses] == [("SOCIO-7", "expired", await h.today())]
    assert view.stage is Stage.CER_ACTIVE and view.referent_structure_id == "SOCIO-7" and view.active_cer is not None
    assert view.stage_history[-1].cause == "REFERENT_LABEL_EXPIRED"
    await h.idle()
    [task] = await tasks(h, "REORIENTATION_LABEL_LOST")
    assert task["assignee"] == f"SLAI:{TERRITORY}"
    assert '"structure_id": "SOCIO-7"' in task["details"] and '"reason": "expired"' in task["details"]


async def test_label_lost_by_another_structure_is_ignored(h):
    d0 = await with_active_cer(h)
    await h.handle.signal(STRUCTURE_LABEL_LOST_SIGNAL, label_lost("SOCIO-8", d0))
    await h.handle.signal(BeneficiaryPathway.payment_suspended, PaymentSuspended(event_id="barrier", flow_date=d0,
                                                                                  reasons=["01"]))
    view = await h.view(lambda v: v.payment_suspension is not None)  # signals apply in order: the first is done
    assert view.label_losses == [] and [c.cause for c in view.stage_history[-2:]] == ["CER_SIGNED", "PAYMENT_SUSPENDED:01"]
    await h.idle()
    assert await tasks(h, "REORIENTATION_LABEL_LOST") == []


# ------------------------------------------------------------------ flow gaps (issue 5)


async def test_payment_suspension_and_resumption_are_in_state_and_stage_history(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=10))
    day = await h.today()
    await h.handle.signal(BeneficiaryPathway.payment_suspended, PaymentSuspended(
        event_id="flow-9:payment_suspended", flow_date=day, reasons=["06"], since=day))
    view = await h.view(lambda v: v.payment_suspension is not None)
    assert (view.payment_suspension.reasons, view.payment_suspension.since) == (["06"], day)
    assert view.stage is Stage.CER_ACTIVE  # the duties go on
    await h.sleep_until(d0 + timedelta(days=40))
    await h.handle.signal(BeneficiaryPathway.payment_resumed, PaymentResumed(
        event_id="flow-10:payment_resumed", flow_date=await h.today()))
    view = await h.view(lambda v: v.payment_suspension is None)
    assert [c.cause for c in view.stage_history[-2:]] == ["PAYMENT_SUSPENDED:06", "PAYMENT_RESUMED"]
    await h.idle()
    rows = await h.pool.fetch("SELECT from_stage, to_stage, changed_on, cause FROM stage_changes WHERE pathway_id = $1 "
                              "AND cause LIKE 'PAYMENT%' ORDER BY seq", h.handle.id)
    assert [tuple(r) for r in rows] == [("CER_ACTIVE", "CER_ACTIVE", day, "PAYMENT_SUSPENDED:06"),
                                        ("CER_ACTIVE", "CER_ACTIVE", await h.today(), "PAYMENT_RESUMED")]


async def test_not_subject_confirmed_over_two_flows_asks_the_referent_to_decide(h):
    d0 = await with_active_cer(h)
    await h.sleep_until(d0 + timedelta(days=10))
    first = await h.today()
    await h.flow("flow-2", subject=False)
    await h.view(lambda v: v.stage is Stage.NOT_SUBJECT)
    await h.sleep_until(d0 + timedelta(days=11))
    await h.handle.signal(BeneficiaryPathway.not_subject_confirmed, NotSubjectConfirmed(
        event_id="flow-3:not_subject_confirmed", flow_date=await h.today(), since=first, flows=2))
    view = await h.view(lambda v: v.not_subject_confirmed_since is not None)
    assert view.not_subject_confirmed_since == first and view.stage is Stage.NOT_SUBJECT
    assert view.referent_structure_id == "SOCIO-7"
    await h.idle()
    [task] = await tasks(h, "REVIEW_NOT_SUBJECT")
    assert task["assignee"] == "REFERENT:SOCIO-7"
