"""A label case decided from the submitted file: the case computes training coverage, the seeded sample of
5 CER per professional and the averages, and its proposal bounds the decision (L3, G-L1, G-L2, G-L3);
a structure working on several territories: the lead SLAI consults the others (G-L22)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from domain.label_contract import ApplicationMessages as A
from domain import label as L
from domain.label import LabelStage
from domain.label_evaluation import draw_sample
from domain.label_messages import ApplicationSubmitted, Decision, EvaluationSubmitted, SlaiOpinion, TerritoryOpinion
from test_label_application import App, ev, eventually, start, terminate_settled, worker  # noqa: F401 (fixtures)
from test_label_evaluation import FULL, cers, professional
from workflows.label_application import LabelApplicationState, LabelApplicationWorkflow


def submitted(files: list[dict], seed: str | None = "campagne-2025") -> EvaluationSubmitted:
    return EvaluationSubmitted.model_validate({"event_id": ev(), "seed": seed, "professionals": files})


async def test_grant_follows_from_the_submitted_attestations_and_grids(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    files = [professional("P-01", cers=cers("P-01", [10, 10, 8, 8, 8, 7])),
             professional("P-02", cers=cers("P-02", [10, 8.5, 8, 8, 10, 10, 7]))]
    assert await app.update(A.SUBMIT_EVALUATION, submitted(files)) is LabelStage.SLAI_CONSOLIDATION
    state = await app.state()
    computed = state.evaluation
    assert computed.proposal == "grant" and computed.training.covered == 2
    for result, file in zip(computed.cer_quality.professionals, files):
        ids = [c["cer_id"] for c in file["cers"]]
        assert result.sample == draw_sample("campagne-2025", file["professional_id"], ids, 5)
    totals = [t for p in computed.cer_quality.professionals for t in p.scores.values()]
    assert len(totals) == 10 and state.admin_evaluation.cer_average == sum(totals) / 10
    assert state.admin_evaluation.sampled_cer_ids == [c for p in computed.cer_quality.professionals for c in p.sample]
    assert state.admin_evaluation.training_ok and state.admin_evaluation.seed == "campagne-2025"
    await app.update(A.RECORD_SLAI_OPINION, SlaiOpinion(event_id=ev(), confirmed=True))  # the figures are kept
    opinion = (await app.state()).slai_opinion
    assert opinion.cer_average == state.admin_evaluation.cer_average and opinion.training_ok
    assert await app.update(A.DECIDE, Decision(event_id=ev(), outcome="grant")) in (LabelStage.GRANTED,
                                                                                     LabelStage.LABELLED)


async def test_an_untrained_referent_makes_the_case_propose_a_refusal(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    files = [professional("P-01", cers=cers("P-01", [10] * 5)),
             professional("P-02", attestations=FULL[:4], cers=cers("P-02", [10] * 5))]
    await app.update(A.SUBMIT_EVALUATION, submitted(files, seed=None))
    state = await app.state()
    assert state.evaluation.proposal == "refuse" and not state.admin_evaluation.training_ok
    assert state.admin_evaluation.seed == f"{app.structure_id}:{state.evaluation.evaluation_date.isoformat()}"
    assert any("P-02 not covered" in r for r in state.admin_evaluation.reasons)
    await app.update(A.RECORD_SLAI_OPINION, SlaiOpinion(event_id=ev(), confirmed=True))
    kind, message = await app.refused(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    assert kind == "CriteriaNotMet"
    assert await app.update(A.DECIDE, Decision(event_id=ev(), outcome="refuse",
                                               reasons=state.admin_evaluation.reasons)) is LabelStage.MORATORIUM


async def test_too_few_cer_refuses_even_with_a_good_average(start):
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    await app.update(A.SUBMIT_EVALUATION, submitted([professional("P-01", cers=cers("P-01", [10, 10]))]))
    state = await app.state()
    assert state.evaluation.proposal == "refuse" and state.admin_evaluation.cer_average == 10
    await app.update(A.RECORD_SLAI_OPINION, SlaiOpinion(event_id=ev(), confirmed=True))
    kind, message = await app.refused(A.DECIDE, Decision(event_id=ev(), outcome="grant"))
    assert kind == "CriteriaNotMet" and "computed evaluation" in message



async def test_multi_territory_structure_lead_slai_consults_the_others(ts_env, task_queue, worker, db_pool):
    """G-L22: the lead SLAI's opinion waits for the opinions of the other territories' SLAIs."""
    structure = f"S-{uuid.uuid4().hex[:8]}"
    handle = await ts_env.client.start_workflow(
        LabelApplicationWorkflow.run,
        LabelApplicationState(structure_id=structure, application_no=1, territory="ARTOIS",
                              other_territories=["AUDOMAROIS", "ARTOIS", "LENS-HENIN", "AUDOMAROIS"]),
        id=L.application_workflow_id(structure, 1), task_queue=task_queue)
    app = App(ts_env, handle, db_pool, structure)
    try:
        await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
        await app.update(A.SUBMIT_EVALUATION, submitted([professional("P-01", cers=cers("P-01", [10] * 5))]))

        async def consultations():
            rows = await db_pool.fetch("SELECT assignee FROM human_tasks WHERE workflow_id = $1 AND kind = $2",
                                       handle.id, "label_slai_consultation")
            return sorted(r["assignee"] for r in rows) == ["SLAI:AUDOMAROIS", "SLAI:LENS-HENIN"]
        await eventually(consultations)
        kind, message = await app.refused(A.RECORD_SLAI_OPINION, SlaiOpinion(event_id=ev(), confirmed=True))
        assert kind == "ConsultationPending" and "AUDOMAROIS" in message and "LENS-HENIN" in message
        kind, _ = await app.refused(A.RECORD_TERRITORY_OPINION, TerritoryOpinion(
            event_id=ev(), territory="ARTOIS", agrees=True))
        assert kind == "InvalidCommand"  # the lead is not consulted
        await app.update(A.RECORD_TERRITORY_OPINION, TerritoryOpinion(event_id=ev(), territory="AUDOMAROIS",
                                                                      agrees=True))
        kind, message = await app.refused(A.RECORD_SLAI_OPINION, SlaiOpinion(event_id=ev(), confirmed=True))
        assert kind == "ConsultationPending" and "AUDOMAROIS" not in message
        await app.update(A.RECORD_TERRITORY_OPINION, TerritoryOpinion(
            event_id=ev(), territory="LENS-HENIN", agrees=False, remarks=["partenariat local fragile"]))
        assert await app.update(A.RECORD_SLAI_OPINION, SlaiOpinion(event_id=ev(), confirmed=True)) \
            is LabelStage.SLAI_CONSOLIDATION
        state = await app.state()
        assert [o.territory for o in state.territory_opinions] == ["AUDOMAROIS", "LENS-HENIN"]
    finally:
        await terminate_settled(ts_env.client, handle.id)


async def test_a_submitted_cer_longer_than_the_case_rule_set_allows_is_refused(start):
    """The message is decoded without a rule set; the case re-validates the grids against its own (issue 18)."""
    app = await start()
    await app.update(A.SUBMIT, ApplicationSubmitted(event_id=ev()))
    long = cers("P-01", [10] * 5)
    evaluation = long[0]["evaluation"]
    edition = date.fromisoformat(evaluation["edition_date"])
    long[0] = {**long[0], "evaluation": {**evaluation, "end_date": (edition + timedelta(days=250)).isoformat()}}
    kind, message = await app.refused(A.SUBMIT_EVALUATION, submitted([professional("P-01", cers=long)]))
    assert kind == "InvalidCommand" and "at most 6 months" in message
    assert (await app.state()).stage is LabelStage.DPID_ADMIN_EVALUATION
