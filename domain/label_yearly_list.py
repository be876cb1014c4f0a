"""Contract of the yearly Commission Permanente list (L20): workflow and activity names, payloads.

Shared by ``workflows/label_yearly_list.py`` (which runs each year) and ``activities/label.py`` (which
reads the label read model and stores the list in ``label_yearly_lists``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

LABEL_YEARLY_LIST_WORKFLOW = "LabelYearlyList"
LABEL_YEARLY_LIST_WORKFLOW_ID = "label-yearly-list"  # the schedule appends the scheduled time
STORE_YEARLY_LIST = "label.store_yearly_list"


class YearlyListInput(BaseModel):
    year: int | None = Field(None, ge=2025, le=9999)  # default: the year of the run


class YearlyListRequest(BaseModel):
    year: int
    workflow_id: str
    generated_on: str  # ISO date of the run (Europe/Paris)


class YearlyListSummary(BaseModel):
    year: int
    granted: int  # labels decided in the year (ceremony)
    labelled: int  # labels valid at some point of the year
