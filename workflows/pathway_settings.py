"""The pathway workflow's constants: patch ids, activity options, metric names, the messages' families.

Passed through the workflow sandbox (one copy per process, like ``workflows.search_attributes``): only immutable
values and option mappings that nothing writes, read by the main loop (``workflows.pathway_loop``), the label
workflow's local writes and the tests. Each patch id says which change of commands it guards.
"""

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from domain.pathway_contract import MONJOB62_REFUSED, Signal, Update

#: Signals that were people's commands: kept for senders and histories of before; the API sends the update.
SIGNALS_REPLACED_BY_UPDATES = {Signal.APPOINTMENT: Update.RECORD_APPOINTMENT,
                               Signal.DIAGNOSTIC_COMPLETED: Update.RECORD_DIAGNOSTIC,
                               Signal.NON_COMPLIANCE: Update.REPORT_NON_COMPLIANCE, Signal.EP_DECISION: Update.DECIDE_EP,
                               Signal.LOST_FROM_VIEW_CONVOCATION: Update.RECORD_CONVOCATION}
#: Sent by our own workflows (label side, flow import's household link), never by a person or another system
#: (no HTTP route).
INTERNAL_SIGNALS = frozenset({Signal.STRUCTURE_LABEL_LOST, Signal.HOUSEHOLD_MEMBER})

#: A pathway continues as new at each referent designation as well as at each bilan (business boundaries), so no
#: run carries both the orientation phase and a CER cycle: replaying a run stays short.
CONTINUE_AT_DESIGNATION = "continue-as-new-at-referent-designation"
#: The T4/T7 reminders (SLAI manager at D+21 before orientation, platform at D+10 before a first appointment)
#: add timers: decided once, at the start of a pathway's first run, and kept in its state for the later runs.
REMINDERS = "pathway-reminders-d10-d21"
#: The workflow closes its tasks when the event they wait for arrives (closures join the read-model batches, which
#: may add a write): decided at the start of each run, so a run's history either has closures from its start or none.
CLOSE_TASKS = "pathway-closes-its-tasks"
#: ``ReferentStructure`` (a structure's caseload in the Temporal UI): a new value may add an upsert command.
REFERENT_STRUCTURE = "pathway-referent-structure-search-attribute"
#: Read-model writes are short upserts into our own database: they run first as a local activity, recorded
#: as one marker in the workflow task that decided them (no activity task, no extra workflow task: a third
#: fewer events per run). A local activity holds its workflow task open while it retries; past the task's
#: 10 s timeout the task would have to be heartbeaten (more events, and lost when the worker evicts the run),
#: so after 4 failed attempts (about 4 s) the write falls back to a regular activity, whose retries cost no
#: history. The attempts bound it: the worker's local retries do not stop at ``schedule_to_close_timeout``.
RECORD_LOCALLY = "record-effects-as-local-activity"
#: A CER signed on the CAF route names its GESICA entry domain and objectives (§3.8): checked by the sign_cer
#: validator, so decided once at the start of a pathway (like the reminders) and kept in its state.
GESICA_AT_CER = "gesica-domain-objectives-at-caf-cer-signature"
#: Rule changes of ``domain.pathway_rules`` asked through ``workflow.patched`` at the moment they would make a
#: difference (``Pathway(patched=...)``): ``CER_END_FIXED`` (a pause no longer moves the CER's end, R13), asked at
#: the first pause reaching a CER clock in a run, and ``BREACH_WITHDRAWAL`` (a late fact dated in time withdraws
#: the breach), asked when such a fact arrives, and ``CER_REPLACED`` (``sign_cer`` refused on a 2025 case, §8.3),
#: asked by the update's handler only when it would refuse. A run that already behaved the old way keeps doing so
#: until its next run (at the latest its bilan); every other run gets the new rules.
#: A pathway adopted from a département's caseload (``domain.caseload_adoption``) starts at its stage with its
#: clocks: its state says which reminders and checks it keeps, as a continued run's does.
ADOPTED_CASELOAD = "pathway-adopted-from-caseload"

#: The rule set follows the case's entry date (issue 18: 2023 rules before 1 January 2025, 2025 rules from then);
#: decided at the start of a pathway and kept in its state. A pathway opened before keeps the 2023 rules.
RULE_SETS_BY_ENTRY_DATE = "rule-set-by-entry-date-2025-rules"
#: People's commands are logged with their actor (state, read model): the log adds read-model writes.
DECISION_LOG = "pathway-decision-log-with-actor"
#: New runs ask this one patch instead of the five below, asked by every new pathway's first workflow task before
#: (each a marker and a ``TemporalChangeVersion`` upsert: ten of its thirteen commands, kept by the SDK core for
#: as long as the run is cached, docs/worker-memory.md). Runs recorded before keep asking them one by one.
START_PATCHES = "pathway-start-patches-in-one-marker"
PATCHES_IN_START = frozenset({RULE_SETS_BY_ENTRY_DATE, REMINDERS, GESICA_AT_CER, CLOSE_TASKS, RECORD_LOCALLY})
LOCAL_RECORD_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=2),
    schedule_to_close_timeout=timedelta(seconds=6),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=2), maximum_attempts=4),
)
#: Read-model writes as regular activities: retried with backoff for a day (a database outage), then retried by
#: the workflow.
RECORD_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(days=1),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=5)),
)
#: MonJob62 pushes: an external service; refusals are non-retryable and become a task for a person.
PUSH_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(days=3),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=30), non_retryable_error_types=[MONJOB62_REFUSED]),
)
RECORD_RETRY_PAUSE = timedelta(hours=1)

#: Business counters (``workflow.metric_meter()``: not emitted on replay). Attributes are categories only.
DEADLINES_BREACHED = "parcours_deadlines_breached"  # attribute deadline_kind
DECISIONS = "parcours_decisions"  # attributes decision_kind, outcome
REFUSED_EVENTS = "parcours_refused_events"  # attributes message, code

#: A message the rules refuse or whose data they cannot carry becomes an anomaly of the case (state, read model,
#: a task for the responsible service, a metric) instead of being dropped or failing the workflow task.
ANOMALIES = "pathway-refused-events-become-anomalies"
#: What domain code raises on data it cannot apply: rule refusals and implausible dates (ValueError), dates
#: ``datetime`` cannot carry (OverflowError), models that refuse a derived value (pydantic's ValueError).
DATA_ERRORS = (ValueError, ArithmeticError)


BREACHES_WITHDRAWN = "parcours_breaches_withdrawn"  # attribute deadline_kind
#: Each counter's description.
COUNTERS = {DEADLINES_BREACHED: "Pathway deadlines breached, by deadline kind",
            DECISIONS: "Decisions taken on pathways, by kind and outcome",
            REFUSED_EVENTS: "Pathway messages refused or not applicable, by message and code",
            BREACHES_WITHDRAWN: "Breaches withdrawn by a late fact, by deadline kind"}
