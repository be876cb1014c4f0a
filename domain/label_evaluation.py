"""Evaluation of a structure's Label référent RSA file: the grant / refuse proposal (domain.md §4.2, §4.4).

Both criteria are gates (G-L1): every professional covered by training, and the structure's average CER
score — over every scored CER, raw, not rounded (G-L2) — at least 8.0 / 10. The 50/50 weighting is only
shown as presentation. The DPID controls ``cer_per_professional`` CER per professional drawn at random
(5, or the reduced renewal sample): the draw is seeded and reproducible, and the seed and the drawn ids
are part of the result so the evaluation can be recorded and replayed (G-L3).

Input format (``parcours label evaluate FILE``), JSON::

    {"structure_id": "S-62-0042",             # opaque structure id
     "evaluation_date": "2025-03-15",
     "seed": "any text",                       # optional, default "<structure_id>:<evaluation_date>"
     "cer_per_professional": 5,                # optional, default from the rule set (renewal: 2)
     "professionals": [
       {"professional_id": "P-01",             # pseudonymous
        "arrival_date": "2024-10-01",          # optional (new arrivals)
        "attestations": [{"module": "secret_professionnel", "attended_on": "2024-05-02",
                          "external": false, "equivalence_accepted": null}],
        "absences": [{"module": "public_feminin", "reason": "sick_leave", "rebooked_on": "2025-04-10"}],
        "training_plan": [{"module": "public_feminin", "planned_on": "2025-04-10"}],   # optional
        "cers": [{"cer_id": "c-7f3a...",       # pseudonymous (hash of the N° CAF, G-L4), never the N° CAF
                  "self_score": 8.5,           # optional: the structure's own score, compared (G-L3)
                  "evaluation": { ... the `parcours cer score` input ... }}]}]}
"""

from __future__ import annotations

import random
import re
from datetime import date
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError, field_validator, model_validator

from domain.cer_grid import CerEvaluation, IsoDate, describe_validation_error, score_cer
from domain.deadlines import add_months
from domain.rules import RuleSet
from domain.training import ProfessionalTraining, TrainingCoverage, evaluate_training


class LabelInputError(ValueError):
    """A label file that cannot be evaluated; one line naming the field or the rule."""


_CLEAR_CAF_NUMBER = re.compile(r"^\d{1,9}$")


class SubmittedCer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cer_id: StrictStr = Field(min_length=1)
    self_score: float | None = Field(default=None, ge=0, le=10)
    evaluation: CerEvaluation

    @field_validator("cer_id")
    @classmethod
    def _pseudonymous(cls, value: str) -> str:
        if _CLEAR_CAF_NUMBER.match(value):
            raise ValueError("looks like a clear N° CAF: give the pseudonymous CER id (G-L4)")
        return value


class ProfessionalFile(ProfessionalTraining):
    cers: list[SubmittedCer] = []

    @model_validator(mode="after")
    def _unique_cers(self) -> "ProfessionalFile":
        ids = [c.cer_id for c in self.cers]
        if len(ids) != len(set(ids)):
            raise ValueError(f"cers: CER ids must be unique for professional {self.professional_id}")
        return self


_PROFESSIONALS = TypeAdapter(list[ProfessionalFile])


class LabelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    structure_id: StrictStr = Field(min_length=1)
    evaluation_date: IsoDate
    seed: StrictStr | None = None
    cer_per_professional: int | None = Field(default=None, ge=1)
    professionals: list[ProfessionalFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_professionals(self) -> "LabelFile":
        ids = [p.professional_id for p in self.professionals]
        if len(ids) != len(set(ids)):
            raise ValueError("professionals: professional ids must be unique")
        return self


class ProfessionalCerResult(BaseModel):
    professional_id: str
    submitted: int
    sample: list[str]  # the drawn CER ids, in draw order
    scores: dict[str, float]  # cer id -> total /10
    average: float | None


class TrainingGate(BaseModel):
    passed: bool
    covered: int
    total: int
    percent: float
    professionals: list[TrainingCoverage]


class CerQualityGate(BaseModel):
    passed: bool
    average: float | None  # raw average over every scored CER (not rounded)
    threshold: float
    scored: int
    percent: float | None
    joint_review_required: bool  # below 80 %: siège–SLAI work session (L4) [001:255]
    professionals: list[ProfessionalCerResult]


class Presentation(BaseModel):
    """The 50/50 display of the two criteria (G-L1: presentation only, both gates still required)."""

    training_percent: float
    cer_percent: float | None
    global_percent: float | None


class LabelProposal(BaseModel):
    structure_id: str
    evaluation_date: date
    seed: str
    cer_per_professional: int
    proposal: Literal["grant", "refuse"]
    reasons: list[str]
    training: TrainingGate
    cer_quality: CerQualityGate
    presentation: Presentation
    review_flags: list[str]


def parse_label_file(data: Any, rules: RuleSet) -> LabelFile:
    if not isinstance(data, dict):
        raise LabelInputError("a label file must be a JSON object")
    try:
        return LabelFile.model_validate(data, context={"rules": rules})
    except ValidationError as error:
        raise LabelInputError(describe_validation_error(error)) from None


def check_professionals(professionals: list[ProfessionalFile], rules: RuleSet) -> None:
    """Files carried by a workflow message are decoded without a rule set; the case re-validates them against
    its own before evaluating them (raises ``LabelInputError``, one line)."""
    try:
        _PROFESSIONALS.validate_python([p.model_dump(mode="json") for p in professionals], context={"rules": rules})
    except ValidationError as error:
        raise LabelInputError(describe_validation_error(error)) from None


def draw_sample(seed: str, professional_id: str, cer_ids: list[str], size: int) -> list[str]:
    """Reproducible draw of ``size`` CER ids: the same seed and ids give the same sample on any machine."""
    pool = sorted(cer_ids)
    rng = random.Random(f"{seed}|{professional_id}")  # str seeds hash with SHA-512: stable across runs
    return rng.sample(pool, min(size, len(pool)))


def _percent(part: Fraction) -> float:
    return float(part * 100)


def evaluate_structure(
    file: LabelFile, rules: RuleSet, *, renewal: bool = False
) -> LabelProposal:
    on = file.evaluation_date
    seed = file.seed if file.seed is not None else f"{file.structure_id}:{on.isoformat()}"
    size = file.cer_per_professional or (
        rules.renewal_cer_per_professional if renewal else rules.cer_per_professional
    )
    reasons: list[str] = []
    flags: list[str] = []

    # Criterion 1: training.
    coverages = [evaluate_training(p, on, rules) for p in file.professionals]
    covered = sum(1 for c in coverages if c.covered)
    training_passed = covered == len(coverages)
    for coverage in coverages:
        flags.extend(coverage.review_flags)
        if not coverage.covered:
            reasons.append(f"training: {coverage.professional_id} not covered ({'; '.join(coverage.reasons)})")
        elif coverage.status.value != "trained":
            reasons.append(f"training: {coverage.professional_id} {coverage.status.value} ({'; '.join(coverage.reasons)})")
    reasons.insert(
        0,
        f"training: {covered}/{len(coverages)} professionals covered — criterion "
        + ("met" if training_passed else "not met: every referent must be trained [001:158]"),
    )

    # Criterion 2: CER quality on the drawn sample.
    per_professional: list[ProfessionalCerResult] = []
    all_totals: list[Fraction] = []
    sample_complete = True
    for professional in file.professionals:
        by_id = {c.cer_id: c for c in professional.cers}
        sample = draw_sample(seed, professional.professional_id, list(by_id), size)
        scores: dict[str, float] = {}
        for cer_id in sample:
            submitted = by_id[cer_id]
            total = score_cer(submitted.evaluation, rules).total
            scores[cer_id] = total
            all_totals.append(Fraction(total))
            if submitted.self_score is not None and abs(submitted.self_score - total) > 1:
                flags.append(
                    f"{professional.professional_id}: CER {cer_id} self-score {submitted.self_score} "
                    f"differs from the control score {total} by more than 1 point"
                )
        if len(professional.cers) < size:
            new_arrival = professional.arrival_date is not None and on <= add_months(
                professional.arrival_date, rules.training_within_months_of_arrival
            )
            if new_arrival:
                reasons.append(
                    f"cer: {professional.professional_id} new arrival with {len(professional.cers)} CER "
                    f"({size} expected), accepted"
                )
            else:
                sample_complete = False
                reasons.append(
                    f"cer: {professional.professional_id} submitted {len(professional.cers)} CER, {size} required"
                )
        average = float(sum(map(Fraction, scores.values())) / len(scores)) if scores else None
        per_professional.append(
            ProfessionalCerResult(
                professional_id=professional.professional_id, submitted=len(professional.cers),
                sample=sample, scores=scores, average=average,
            )
        )

    threshold = Fraction(rules.cer_quality_threshold)
    mean = sum(all_totals, Fraction(0)) / len(all_totals) if all_totals else None
    cer_passed = mean is not None and mean >= threshold and sample_complete
    if mean is None:
        reasons.append("cer: no CER scored — criterion not met")
    else:
        verdict = "met" if mean >= threshold else "not met (below 80 %: siège–SLAI joint review [001:255])"
        reasons.insert(
            1,
            f"cer: average {float(mean):g}/10 over {len(all_totals)} scored CER, threshold "
            f"{float(threshold):g} — {verdict}",
        )
        if mean >= threshold and not sample_complete:
            reasons.append("cer: sample incomplete — criterion not met")

    cer_percent = _percent(mean / Fraction(rules.cer_grid_max)) if mean is not None else None
    training_percent = _percent(Fraction(covered, len(coverages)))
    proposal: Literal["grant", "refuse"] = "grant" if training_passed and cer_passed else "refuse"
    reasons.append(
        "proposal: grant — both criteria met"
        if proposal == "grant"
        else "proposal: refuse — both criteria are required (G-L1)"
    )
    return LabelProposal(
        structure_id=file.structure_id,
        evaluation_date=on,
        seed=seed,
        cer_per_professional=size,
        proposal=proposal,
        reasons=reasons,
        training=TrainingGate(
            passed=training_passed, covered=covered, total=len(coverages), percent=training_percent,
            professionals=coverages,
        ),
        cer_quality=CerQualityGate(
            passed=cer_passed,
            average=float(mean) if mean is not None else None,
            threshold=float(threshold),
            scored=len(all_totals),
            percent=cer_percent,
            joint_review_required=mean is None or mean < threshold,
            professionals=per_professional,
        ),
        presentation=Presentation(
            training_percent=training_percent,
            cer_percent=cer_percent,
            global_percent=(training_percent + cer_percent) / 2 if cer_percent is not None else None,
        ),
        review_flags=flags,
    )
