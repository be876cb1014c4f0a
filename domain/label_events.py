"""Events the label side sends to other workflows (contract with the pathway workflow).

When a structure's label lapses (W1), is withdrawn (W2, W3) or expires, every pathway whose referent
belongs to the structure receives the signal ``structure_label_lost`` with a ``StructureLabelLost``
payload; the pathway workflow creates a reorientation task for the SLAI. ``event_id`` is stable for one
loss of one label, so a resent signal is recognised and ignored by the pathway.
"""

from __future__ import annotations

from datetime import date
from enum import Enum

from pydantic import BaseModel, ConfigDict

STRUCTURE_LABEL_LOST_SIGNAL = "structure_label_lost"


class LabelLossReason(str, Enum):
    LAPSED = "lapsed"  # W1: the structure ended its RSA accompaniment mission [001:344-346]
    WITHDRAWN = "withdrawn"  # W2 commitments not respected, or W3 quality still not assured [001:348-356]
    EXPIRED = "expired"  # end of the 5-year validity without renewal [001:137]


class StructureLabelLost(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    structure_id: str
    reason: str  # a LabelLossReason value
    effective_date: date


def label_lost_event_id(label_workflow_id: str, reason: str, effective_date: date) -> str:
    """One id per loss of one label: the label workflow id, the reason and the effective date."""
    return f"{label_workflow_id}:{reason}:{effective_date.isoformat()}"
