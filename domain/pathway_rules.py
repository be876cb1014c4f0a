"""Transition and validation rules of the beneficiary pathway (domain.md §2.3–§2.4, §3), without I/O.

:class:`Pathway` wraps a :class:`PathwayState`. ``check_*`` methods only read and raise
:class:`PathwayRuleError` (used by update validators); the other methods apply an event at a civil date
``today`` and append what must be written (stage changes, deadlines, breaches, tasks, MonJob62 pushes) to
``state.outbox``. Deadlines are dates computed here once; the workflow only waits for ``next_fire()``.
Breaches never change anything else: they are recorded and escalated to the responsible service (G-B7).

:class:`Pathway` is composed of one mixin per group of transitions (pathway_orientation, pathway_cer,
pathway_reorientation, pathway_flow_facts), the reading and timers (pathway_reading) and the bookkeeping they share
(pathway_core); this module only assembles them. Their shared constants and helpers (``pathway_workflow_id``,
``add_working_days``, bounds, task groups, stage sets) are imported from ``domain.pathway_constants`` itself.
"""

from __future__ import annotations

from domain.pathway_cer import PathwayCer
from domain.pathway_flow_facts import PathwayFlowFacts
from domain.pathway_orientation import PathwayOrientation
from domain.pathway_reading import PathwayReading
from domain.pathway_reorientation import PathwayReorientation


class Pathway(PathwayReading, PathwayOrientation, PathwayCer, PathwayReorientation, PathwayFlowFacts):
    """The rules applied to one pathway state (mutated in place): one class of its own, the mixins' assembly, so
    every caller holds the same aggregate (the workflow, its trials in validators, the caseload adoption)."""
