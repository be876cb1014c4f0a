"""A label case decided from the submitted file: the case computes training coverage, the seeded sample of
5 CER per professional and the averages, and its proposal bounds the decision (L3, G-L1, G-L2, G-L3)."""

from __future__ import annotations

from domain.label import LabelStage
from domain.label_evaluation import draw_sample
from domain.label_messages import ApplicationSubmitted, Decision, EvaluationSubmitted, SlaiOpinion
from test_label_application import ev, start, worker  # noqa: F401 (fixtures)
from test_label_evaluation import FULL, cers, professional


def submitted(files: list[dict], seed: str | None = "campagne-2025") -> EvaluationSubmitted:
    return EvaluationSubmitted.model_validate({"event_id": ev(), "seed": seed, "professionals": files})


async def test_grant_follows_from_the_submitted_attestations_and_grids(start):
    app = await start()
    await app.update("submit", ApplicationSubmitted(event_id=ev()))
    files = [professional("P-01", cers=cers("P-01", [10, 10, 8, 8, 8, 7])),
             professional("P-02", cers=cers("P-02", [10, 8.5, 8, 8, 10, 10, 7]))]
    assert await app.update("submit_evaluation", submitted(files)) is LabelStage.SLAI_CONSOLIDATION
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
    await app.update("record_slai_opinion", SlaiOpinion(event_id=ev(), confirmed=True))  # the figures are kept
    opinion = (await app.state()).slai_opinion
    assert opinion.cer_average == state.admin_evaluation.cer_average and opinion.training_ok
    assert await app.update("decide", Decision(event_id=ev(), outcome="grant")) in (LabelStage.GRANTED,
                                                                                     LabelStage.LABELLED)


async def test_an_untrained_referent_makes_the_case_propose_a_refusal(start):
    app = await start()
    await app.update("submit", ApplicationSubmitted(event_id=ev()))
    files = [professional("P-01", cers=cers("P-01", [10] * 5)),
             professional("P-02", attestations=FULL[:4], cers=cers("P-02", [10] * 5))]
    await app.update("submit_evaluation", submitted(files, seed=None))
    state = await app.state()
    assert state.evaluation.proposal == "refuse" and not state.admin_evaluation.training_ok
    assert state.admin_evaluation.seed == f"{app.structure_id}:{state.evaluation.evaluation_date.isoformat()}"
    assert any("P-02 not covered" in r for r in state.admin_evaluation.reasons)
    await app.update("record_slai_opinion", SlaiOpinion(event_id=ev(), confirmed=True))
    kind, message = await app.refused("decide", Decision(event_id=ev(), outcome="grant"))
    assert kind == "CriteriaNotMet"
    assert await app.update("decide", Decision(event_id=ev(), outcome="refuse",
                                               reasons=state.admin_evaluation.reasons)) is LabelStage.MORATORIUM


async def test_too_few_cer_refuses_even_with_a_good_average(start):
    app = await start()
    await app.update("submit", ApplicationSubmitted(event_id=ev()))
    await app.update("submit_evaluation", submitted([professional("P-01", cers=cers("P-01", [10, 10]))]))
    state = await app.state()
    assert state.evaluation.proposal == "refuse" and state.admin_evaluation.cer_average == 10
    await app.update("record_slai_opinion", SlaiOpinion(event_id=ev(), confirmed=True))
    kind, message = await app.refused("decide", Decision(event_id=ev(), outcome="grant"))
    assert kind == "CriteriaNotMet" and "computed evaluation" in message
