"""Replay of recorded BeneficiaryPathway histories: a change to the command sequence fails the build.

``tests/histories/pathway_*.json`` are recorded from the full scenario below. To re-record after a
deliberate (patched) change: ``RECORD_PATHWAY_HISTORY=1 pytest tests/test_pathway_replay.py``.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest_asyncio
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.deadlines import add_months
from domain.label_events import STRUCTURE_LABEL_LOST_SIGNAL, StructureLabelLost
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    CafFirstInterview,
    CerAction,
    CerType,
    DiagnosticCompleted,
    LeftRsa,
    OrientationDecision,
    OrientationTarget,
    PaymentSuspended,
    PreconisationSubmitted,
    SignCer,
    SlaiPreconisationDecision,
    Stage,
)
from pathway_harness import Harness, contract, running_pathway
from workers.runtime.converter import data_converter
from workers.runtime.sandbox import workflow_runner
from workflows.pathway import BeneficiaryPathway

HISTORIES = Path(__file__).parent / "histories"
FULL_SCENARIO = HISTORIES / "pathway_full_scenario.json"


@pytest_asyncio.fixture
async def h(db_pool, task_queue):
    async with running_pathway(db_pool, task_queue) as harness:  # unencrypted: the recorded file is replayable as is
        yield harness


def replayer() -> Replayer:
    return Replayer(workflows=[BeneficiaryPathway], data_converter=data_converter(), workflow_runner=workflow_runner())


async def full_scenario(h: Harness) -> WorkflowHistory:
    """Platform route to a CAF referent, CER, a missed appointment, a payment suspension, the CAF's label
    lost, left RSA, no choice, re-entry window over."""
    d0 = await h.morning()
    await h.start()
    await h.update(BeneficiaryPathway.orient, OrientationDecision(
        event_id="o", target=OrientationTarget.PLATFORM, structure_id="PF-ARRAS", notified_on=d0))
    await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
        event_id="a1", kind=AppointmentKind.SCHEDULED, appointment_date=d0 + timedelta(days=7)))
    await h.sleep_until(d0 + timedelta(days=7))
    await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
        event_id="a2", kind=AppointmentKind.HELD, appointment_date=d0 + timedelta(days=7)))
    await h.handle.signal(BeneficiaryPathway.diagnostic_completed, DiagnosticCompleted(event_id="d", completed_on=d0 + timedelta(days=7)))
    day = await h.today()
    acts = [CerAction(start=day, end=day + timedelta(days=90))]
    await h.view(lambda v: v.stage is Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER)
    await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
        event_id="c1", cer_id="cer-pf", type=CerType.SOLIDARITE, start=day, end=add_months(day, 2), signed_on=day,
        actions=acts)))
    await h.update(BeneficiaryPathway.submit_preconisation, PreconisationSubmitted(
        event_id="p", target=OrientationTarget.CAF, structure_id="CAF62-ARRAS", submitted_on=day))
    await h.update(BeneficiaryPathway.decide_preconisation, SlaiPreconisationDecision(event_id="s", decided_on=day))
    await h.update(BeneficiaryPathway.caf_first_interview, CafFirstInterview(event_id="i", held_on=day, within_caf_competence=True))
    await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
        event_id="c2", cer_id="cer-caf", type=CerType.SOLIDARITE, start=day, end=add_months(day, 6), signed_on=day,
        actions=acts, gesica_domain="BUDGET", gesica_objectives=["Maintenir un équilibre budgétaire"])))
    await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
        event_id="a3", kind=AppointmentKind.MISSED, appointment_date=day))
    await h.sleep_until(day + timedelta(days=20))
    await h.handle.signal(BeneficiaryPathway.payment_suspended, PaymentSuspended(
        event_id="ps", flow_date=await h.today(), reasons=["06"]))
    await h.handle.signal(STRUCTURE_LABEL_LOST_SIGNAL, StructureLabelLost(
        event_id="ll", structure_id="CAF62-ARRAS", reason="lapsed", effective_date=await h.today()))
    await h.view(lambda v: v.label_losses)
    await h.sleep_until(day + timedelta(days=40))
    await h.handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(event_id="l", end_of_payment_date=await h.today(), reason="emploi"))
    result = await h.handle.result()
    assert result.stage is Stage.CLOSED
    return await h.handle.fetch_history()


async def test_full_scenario_replays_deterministically(h):
    history = await full_scenario(h)
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_PATHWAY_HISTORY") == "1" or not FULL_SCENARIO.exists():
        HISTORIES.mkdir(exist_ok=True)
        FULL_SCENARIO.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n", encoding="utf-8")


async def test_recorded_pathway_histories_replay():
    files = sorted(HISTORIES.glob("pathway_*.json"))
    assert files, "no recorded pathway history"
    for path in files:
        history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        await replayer().replay_workflow(history)
