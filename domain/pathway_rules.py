"""Transition and validation rules of the beneficiary pathway (domain.md §2.3–§2.4, §3), without I/O.

:class:`Pathway` wraps a :class:`PathwayState`. ``check_*`` methods only read and raise
:class:`PathwayRuleError` (used by update validators); the other methods apply an event at a civil date
``today`` and append what must be written (stage changes, deadlines, breaches, tasks, MonJob62 pushes) to
``state.outbox``. Deadlines are dates computed here once; the workflow only waits for ``next_fire()``.
Breaches never change anything else: they are recorded and escalated to the responsible service (G-B7).

:class:`Pathway` is composed of one mixin per group of transitions (pathway_orientation, pathway_cer,
pathway_reorientation, pathway_flow_facts), the reading and timers (pathway_reading) and the bookkeeping they share
(pathway_core, pathway_constants); this module assembles them and re-exports the shared names.
"""

from __future__ import annotations

from domain.pathway_cer import PathwayCer
from domain.pathway_constants import (
    add_working_days,
    ANNOUNCED,
    APPOINTMENT_TASKS,
    BILAN_TASKS,
    BREACH_WITHDRAWAL,
    CER_CLOCKS,
    CER_END_FIXED,
    CER_SIGNING_STAGES,
    CER_TASKS,
    CONTRACT_KINDS,
    LOST_FROM_VIEW_STAGES,
    MAX_ANOMALIES,
    MAX_CONVOCATIONS,
    MAX_HOUSEHOLD,
    MAX_LABEL_LOSSES,
    MAX_OPEN_TASKS,
    MAX_SANCTIONS,
    MAX_SEEN_EVENT_IDS,
    MAX_STAGE_HISTORY,
    ORIENTATION_TASKS,
    pathway_workflow_id,
    PAUSE_EXIT,
    PAUSE_NOT_SUBJECT,
    PAUSE_REVIEW,
    PLATFORM_CLOCKS,
    REFERENT_STAGES,
    REFUSED_EVENT,
)
from domain.pathway_flow_facts import PathwayFlowFacts
from domain.pathway_orientation import PathwayOrientation
from domain.pathway_reading import PathwayReading
from domain.pathway_reorientation import PathwayReorientation


class Pathway(PathwayReading, PathwayOrientation, PathwayCer, PathwayReorientation, PathwayFlowFacts):
    """The rules applied to one pathway state (mutated in place)."""
