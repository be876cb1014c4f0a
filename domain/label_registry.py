"""The structure registry's rule: one open application per structure, none during a moratorium (L6, L7, L14).

The registry itself is a read-model row per structure (``label_structures``, primary key ``structure_id``)
rather than a workflow per structure: every application workflow already writes its snapshot to the
read model, the API is the only place where new applications are filed, and the row's primary key plus a
``SELECT ... FOR UPDATE`` make the claim of a new application atomic without a second workflow to keep in
step (and without a second history to replay). This module holds the decision, pure, so it is tested
without a database; ``activities/label_registry.py`` reads, claims and updates the row.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from domain.label import day_start


class StructureRecord(BaseModel):
    """What the registry knows of one structure."""

    model_config = ConfigDict(frozen=True)

    structure_id: str
    open_application: str | None = None  # the application workflow still under instruction, moratorium or appeal
    open_stage: str | None = None
    moratorium_application: str | None = None  # the open application when it holds the structure's moratorium
    moratorium_until: date | None = None  # first day a new application is possible (None: not notified yet)
    label_workflow_id: str | None = None
    label_status: str | None = None


class ApplicationRefused(Exception):
    """A new application the registry refuses: the rule, the open application and the first possible day."""

    def __init__(self, rule: str, message: str, *, open_application: str, until: date | None) -> None:
        super().__init__(message)
        self.rule, self.message, self.open_application, self.until = rule, message, open_application, until


def check_new_application(record: StructureRecord | None, workflow_id: str, filed_on: date) -> str | None:
    """Accept ``workflow_id`` filed on ``filed_on`` or raise ``ApplicationRefused``.

    Returns the application it supersedes: an application whose moratorium is over (the new one is the
    structure's reapplication, L7), else None. The same application filed again is accepted (retries).
    """
    if record is None or record.open_application in (None, workflow_id):
        return None
    current = record.open_application
    if record.moratorium_application == current:
        if record.moratorium_until is None:
            raise ApplicationRefused(
                "L6", f"{current} was refused with a 6-month moratorium that starts at its notification "
                      "(acknowledgement of receipt not yet recorded): no new application before it ends",
                open_application=current, until=None)
        if filed_on < record.moratorium_until:
            raise ApplicationRefused(
                "L7", f"the structure is under the moratorium of {current} until "
                      f"{day_start(record.moratorium_until).isoformat()}: a new application is possible from "
                      f"{record.moratorium_until.isoformat()}",
                open_application=current, until=record.moratorium_until)
        return current
    stage = f" ({record.open_stage})" if record.open_stage else ""
    raise ApplicationRefused(
        "L1", f"the structure's application {current} is still open{stage}: one application at a time",
        open_application=current, until=None)
