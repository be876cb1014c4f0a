"""May a structure be funded for an RSA accompaniment mission on a day? (G-L13, G-L23)

From ``RuleSet.funding_requires_label_from`` (default 1 July 2026) only labelled structures may be funded
[001:108][001:582]. The CAF accompanies for free and is not funded by the Département: it is exempt by
configuration (``PARCOURS_LABEL_FUNDING_EXEMPT``: structure ids), and may still apply for the label.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from domain.label import validate_structure_id
from domain.rules import RuleSet


class FundingAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    funding_allowed: bool
    funding_reason: str


def parse_exempt(value: str | None) -> frozenset[str]:
    """``"CAF-62,CAF-59"`` → the exempt structure ids (each checked as a structure id)."""
    ids = [part.strip() for part in (value or "").split(",") if part.strip()]
    return frozenset(validate_structure_id(structure_id) for structure_id in ids)


def funding_answer(structure_id: str, on: date, labelled: bool, exempt: frozenset[str], rules: RuleSet) -> FundingAnswer:
    if on < rules.funding_requires_label_from:
        return FundingAnswer(funding_allowed=True, funding_reason=(
            f"the label is required from {rules.funding_requires_label_from.isoformat()} (G-L13)"))
    if labelled:
        return FundingAnswer(funding_allowed=True, funding_reason="labelled")
    if structure_id in exempt:
        return FundingAnswer(funding_allowed=True, funding_reason="exempt from the label by configuration (G-L23)")
    return FundingAnswer(funding_allowed=False, funding_reason="not labelled")
