"""CER quality grid of the Label référent RSA (Annexe 2 of the cahier des charges, domain.md §4.2.2).

A CER evaluation holds the facts read from one pseudonymised CER (kind, dates, actions, remark) and the
evaluator's four judgments; ``score_cer`` turns it into the grid's five section scores out of 10.
Everything that can be computed from the CER is computed, so two evaluators only differ on judgments.

Input problems (a missing field, an unknown value, a bad date, an action or a CER ending before it starts,
a CER longer than the rule set's maximum) raise ``CerInputError`` with one line naming the field or rule.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from domain.deadlines import add_months
from domain.rules import RuleSet

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> date:
    """Only ``YYYY-MM-DD`` strings (or dates): a number or a free-form string is an input error."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid calendar date") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class CerInputError(ValueError):
    """A CER evaluation that cannot be scored; the message is one line naming the field or the rule."""


class CerKind(str, Enum):
    SOLIDARITE = "solidarite"
    SOCIOPROFESSIONNEL = "socioprofessionnel"


class CerAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: IsoDate
    end: IsoDate
    detail: StrictStr
    professional_insertion: StrictBool


class CerAssessment(BaseModel):
    """The evaluator's judgments: the grid items that cannot be computed from the CER itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    durations_adapted: StrictBool  # includes "one action lasts the whole CER" (G-L5)
    remark_explains_situation: StrictBool
    remark_explains_actions: StrictBool
    confidentiality_respected: StrictBool


class CerEvaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: CerKind
    edition_date: IsoDate
    end_date: IsoDate
    actions: list[CerAction]
    remark: StrictStr
    assessment: CerAssessment

    @model_validator(mode="after")
    def _coherent_dates(self, info: ValidationInfo) -> "CerEvaluation":
        rules: RuleSet | None = (info.context or {}).get("rules")
        for index, action in enumerate(self.actions):
            if action.end < action.start:
                raise ValueError(
                    f"actions[{index}].end: action ends ({action.end}) before it starts ({action.start})"
                )
        if self.end_date < self.edition_date:
            raise ValueError(f"end_date: CER ends ({self.end_date}) before its edition date ({self.edition_date})")
        if rules is None:
            # No rule set is known where a message is decoded: the duration is checked when the case
            # re-validates the evaluation against its own rule set (``label_evaluation.check_professionals``);
            # no rule set is ever assumed (issue 18).
            return self
        latest_end = add_months(self.edition_date, rules.cer_max_months)
        if self.end_date > latest_end:
            raise ValueError(
                f"end_date: a CER lasts at most {rules.cer_max_months} months "
                f"(edition {self.edition_date}, latest end {latest_end}, got {self.end_date})"
            )
        return self


class CerSections(BaseModel):
    model_config = ConfigDict(frozen=True)

    durations: float
    number_of_actions: float
    details: float
    remark: float
    confidentiality: float


class CerScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    sections: CerSections
    total: float
    max: int = 10
    percent: float


# Section maxima of Annexe 2 [001:414-415]; they add up to the 10-point grid.
SECTION_MAX = {"durations": 2.0, "number_of_actions": 2.0, "details": 1.0, "remark": 3.5, "confidentiality": 1.5}


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """First problem of a pydantic error as one line: ``field.path: what is wrong``."""
    first = error.errors(include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    where = _location(tuple(first["loc"]))
    if first["type"] == "missing":
        message = "missing field"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    if prefix:
        where = f"{prefix}.{where}" if where else prefix
    # Cross-field rules name their own field at the start of the message.
    return f"{where}: {message}" if where else message


def parse_cer_evaluation(data: Any, rules: RuleSet) -> CerEvaluation:
    """Validate a decoded JSON CER evaluation; raise ``CerInputError`` (one line) when it is not scorable."""
    if not isinstance(data, dict):
        raise CerInputError("a CER evaluation must be a JSON object")
    try:
        return CerEvaluation.model_validate(data, context={"rules": rules})
    except ValidationError as error:
        raise CerInputError(describe_validation_error(error)) from None


def _blank(text: str) -> bool:
    return not text.strip()


def score_cer(cer: CerEvaluation, rules: RuleSet) -> CerScore:
    """The Annexe 2 score of one CER (items and points as in domain.md §4.2.2)."""
    actions = cer.actions
    judged = cer.assessment

    durations = 0.0
    if actions and all(a.start >= cer.edition_date for a in actions):
        durations += 0.5
    if actions and all(a.end <= cer.end_date for a in actions):
        durations += 0.5
    if judged.durations_adapted:
        durations += 1.0

    number = 0.0
    if cer.kind is CerKind.SOLIDARITE:
        if len(actions) >= rules.solidarite_min_actions:
            number = 2.0
    else:
        if len(actions) >= rules.socio_pro_min_actions:
            number += 1.0
        if any(a.professional_insertion for a in actions):
            number += 1.0

    details = 1.0 if actions and all(not _blank(a.detail) for a in actions) else 0.0

    remark = 0.0
    if not _blank(cer.remark):
        remark += 0.5
        if judged.remark_explains_situation:
            remark += 1.0
        if judged.remark_explains_actions:
            remark += 2.0

    confidentiality = 1.5 if judged.confidentiality_respected else 0.0

    sections = CerSections(
        durations=durations,
        number_of_actions=number,
        details=details,
        remark=remark,
        confidentiality=confidentiality,
    )
    total = durations + number + details + remark + confidentiality
    return CerScore(sections=sections, total=total, max=int(rules.cer_grid_max), percent=total * 10)
