"""``BeneficiaryPathway``: one long-running workflow per person subject to rights and duties.

Handlers only apply the pure rules of ``domain.pathway_rules`` to the state; the main loop writes what the
rules decided (one activity per batch), pushes to MonJob62, counts breaches and decisions (business metrics),
upserts search attributes and the UI summary ("stage · next deadline"), and waits for the next deadline with
``wait_condition`` so an event can move it. It continues as new at each CER cycle and when the server
suggests it, carrying the whole state (including the bounded set of seen event ids).

Signals from other systems: ``flow_record``, ``left_rsa``, ``payment_suspended``, ``payment_resumed`` and
``not_subject_confirmed`` (flow import), ``household_member`` (G-B20, flow import) and ``structure_label_lost``
(label side). People's commands are updates whose validator applies the rules (a refusal is answered to the
sender, nothing is recorded); each applied one is logged with its actor (``domain.pathway_decisions``). ``appointment``, ``diagnostic_completed``,
``non_compliance``, ``ep_decision`` and ``lost_from_view_convocation`` were signals: their handlers stay for
senders and histories of before, their updates are ``record_appointment``, ``record_diagnostic``,
``report_non_compliance``, ``decide_ep`` and ``record_convocation``. The handlers themselves are in
``workflows.pathway_handlers``; this module holds the state, the main loop and the three ways a message is applied.
"""

import asyncio
from datetime import timedelta
from typing import Any, Callable

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from domain.pathway_contract import MONJOB62_REFUSED, PUSH_MONJOB62, RECORD_EFFECTS, WORKFLOW_TYPE, Signal, Update
    from domain.deadlines import paris_date
    from domain.pathway import (
        CommandResult,
        FlowRecord,
        HumanTask,
        MonJob62Push,
        Outbox,
        PathwayEffects,
        PathwayInput,
        PathwayRuleError,
        PathwayView,
    )
    from domain.pathway_decisions import last_decision_summary, record_decision
    from domain.pathway_rules import Pathway
    from domain.rules import ImplausibleDate
    from domain import tasks as assignee
    from workflows import search_attributes as sa

from workflows.holiday_calendar import holiday_calendar
from workflows.pathway_handlers import PathwayHandlers


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


def _data_code(error: BaseException) -> str:
    if isinstance(error, PathwayRuleError):
        return error.rule
    return "IMPLAUSIBLE_DATE" if isinstance(error, ImplausibleDate) else "DATA_NOT_APPLICABLE"
BREACHES_WITHDRAWN = "parcours_breaches_withdrawn"  # attribute deadline_kind


@workflow.defn(name=WORKFLOW_TYPE)
class BeneficiaryPathway(PathwayHandlers):
    @workflow.init
    def __init__(self, inp: PathwayInput) -> None:
        self._start_patches = workflow.patched(START_PATCHES)
        if inp.state is not None:
            self.p = Pathway(inp.state, patched=self._rule_changed)
        elif inp.adoption is not None:
            self.p = Pathway(inp.adoption, patched=self._rule_changed)
        else:
            self.p = Pathway.new(inp.person_id, inp.territory, paris_date(workflow.now()), patched=self._rule_changed,
                                 rules_by_entry_date=self._patched(RULE_SETS_BY_ENTRY_DATE), seq=inp.seq_base)
        self._search_attributes: dict[str, Any] = {}
        meter = workflow.metric_meter()
        self._breached = meter.create_counter(DEADLINES_BREACHED, "Pathway deadlines breached, by deadline kind")
        self._decisions = meter.create_counter(DECISIONS, "Decisions taken on pathways, by kind and outcome")
        self._refused = meter.create_counter(REFUSED_EVENTS, "Pathway messages refused or not applicable, by "
                                                             "message and code")
        self._withdrawn = meter.create_counter(BREACHES_WITHDRAWN, "Breaches withdrawn by a late fact, by deadline kind")

    # ------------------------------------------------------------------ main loop

    @workflow.run
    async def run(self, inp: PathwayInput) -> PathwayView:
        s = self.p.s
        if inp.adoption is not None and workflow.patched(ADOPTED_CASELOAD):
            inp = inp.model_copy(update={"state": inp.adoption})  # its reminders and checks are in its state
        if inp.state is None and self._patched(REMINDERS):
            with holiday_calendar():
                self.p.enable_reminders(self._today())
        if inp.state is None and self._patched(GESICA_AT_CER):
            s.gesica_at_cer = True
        if self._patched(CLOSE_TASKS):
            s.closes_tasks = True
        while True:
            await self._drain()
            if s.finished:
                break
            if s.cycle_completed or self._new_referent_run() or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._drain()
                if not s.finished:
                    # The next run's state is a copy: until this run has closed, a query still sees this run.
                    following = Pathway(s.model_copy(deep=True))
                    following.s.cycle_completed = following.s.referent_designated = False
                    following.forget_settled_deadlines()
                    following.s.run += 1
                    workflow.continue_as_new(
                        PathwayInput(person_id=s.person_id, territory=s.territory, state=following.s))
                break
            next_fire = self.p.next_fire()
            if next_fire is not None and next_fire <= workflow.now():
                with holiday_calendar():
                    self.p.expire(workflow.now())
                continue
            timeout = None if next_fire is None else next_fire - workflow.now()
            try:
                await workflow.wait_condition(
                    lambda: not s.outbox.empty() or s.finished or s.cycle_completed,
                    timeout=timeout,
                    timeout_summary="next pathway deadline",
                )
            except asyncio.TimeoutError:
                pass
            with holiday_calendar():
                self.p.expire(workflow.now())
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain()
        return self.p.view()

    def _new_referent_run(self) -> bool:
        """True once after a referent's designation: the pathway continues as new there (runs that were open
        before ``CONTINUE_AT_DESIGNATION`` keep their single run until the bilan)."""
        s = self.p.s
        if not s.referent_designated:
            return False
        s.referent_designated = False
        return workflow.patched(CONTINUE_AT_DESIGNATION)

    async def _drain(self) -> None:
        """Write what the rules decided; handlers may add more while we wait, so loop until empty."""
        s = self.p.s
        while not s.outbox.empty():
            batch, s.outbox = s.outbox, Outbox()
            pushes, batch.pushes = batch.pushes, []
            decisions, batch.decisions = batch.decisions, []
            await self._record(batch)
            for breach in batch.breaches:
                if breach.withdrawn_on is None:
                    self._breached.add(1, {"deadline_kind": breach.kind.value})
                else:
                    self._withdrawn.add(1, {"deadline_kind": breach.kind.value})
            for decision in decisions:
                self._decisions.add(1, {"decision_kind": decision.kind.value, "outcome": decision.outcome})
            for item in pushes:
                await self._push(item)
        self._upsert_search_attributes()

    async def _record(self, batch: Outbox) -> None:
        """Write the row and this batch to the read model; never gives up (a write retried later is harmless:
        rows are guarded by version). Runs started before ``RECORD_LOCALLY`` keep regular activities only."""
        if self._patched(RECORD_LOCALLY):
            try:
                await workflow.execute_local_activity(RECORD_EFFECTS, PathwayEffects(row=self.p.row(), outbox=batch),
                                                      **LOCAL_RECORD_OPTIONS)
                return
            except (ActivityError, ApplicationError, ActivityTimeoutError):  # a local activity out of attempts raises its
                # last failure itself, not wrapped in an ActivityError; uncaught, it would fail the pathway
                workflow.logger.warning("read-model write failed locally; retrying as a regular activity")
        while True:
            try:
                await workflow.execute_activity(RECORD_EFFECTS, PathwayEffects(row=self.p.row(), outbox=batch),
                                                **RECORD_OPTIONS)
                return
            except ActivityError:
                workflow.logger.error("read-model write failed; retrying in %s", RECORD_RETRY_PAUSE)
                await workflow.sleep(RECORD_RETRY_PAUSE)

    async def _push(self, item: MonJob62Push) -> None:
        try:
            await workflow.execute_activity(PUSH_MONJOB62, item, result_type=str, **PUSH_OPTIONS)
        except ActivityError:
            workflow.logger.warning("MonJob62 push %s failed", item.kind)
            self.p.s.outbox.tasks.append(
                HumanTask(task_key=f"{item.idempotency_key}:FAILED", kind="MONJOB62_PUSH_FAILED",
                          assignee=assignee.slai(self.p.s.territory), details={"kind": item.kind})
            )

    def _upsert_search_attributes(self) -> None:
        s = self.p.s
        ref = self.p.accompanying
        wanted: dict[str, Any] = {
            sa.STAGE.name: s.stage.value,
            sa.TERRITORY.name: s.territory,
            sa.RULE_SET.name: s.rule_set_version,
            sa.BREACH_COUNT.name: len(self.p.active_breaches()),
            sa.REFERENT_TYPE.name: ref.type.value if ref else None,
            sa.SUBJECT_TO_DUTIES.name: s.subject_to_duties,
            sa.NEXT_DEADLINE.name: sa.instant(self.p.next_deadline_instant()),
            sa.CER_END.name: sa.instant(self.p.cer_end_instant()),
        }
        if ref is not None and workflow.patched(REFERENT_STRUCTURE):
            wanted[sa.REFERENT_STRUCTURE.name] = ref.structure_id
        keys = {k.name: k for k in sa.ALL_SEARCH_ATTRIBUTES}
        updates: list[SearchAttributeUpdate] = []
        for name, value in wanted.items():
            if name in self._search_attributes and self._search_attributes[name] == value:
                continue
            if name not in self._search_attributes and value is None:
                self._search_attributes[name] = None  # never set in this run: nothing to unset
                continue
            key = keys[name]
            updates.append(key.value_unset() if value is None else key.value_set(value))
            self._search_attributes[name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self.p.summary() + last_decision_summary(self.p))

    # ------------------------------------------------------------------ helpers

    def _patched(self, patch_id: str) -> bool:
        """A patch of ``PATCHES_IN_START``: implied by ``START_PATCHES`` (no marker of its own), else asked."""
        return (self._start_patches and patch_id in PATCHES_IN_START) or workflow.patched(patch_id)

    def _rule_changed(self, change: str) -> bool:
        """Whether a rule change of ``domain.pathway_rules`` applies (``Pathway(patched=...)``). A validator cannot
        ask ``workflow.patched`` (read-only) and never runs on replay: it applies the current rules; a handler asks,
        so one replaying a history of before keeps the old rule (e.g. ``CER_REPLACED``: a ``sign_cer`` accepted on a
        2025 case is still accepted on replay)."""
        return workflow.unsafe.is_read_only() or workflow.patched(change)

    def _today(self):
        return paris_date(workflow.now())

    def _signal(self, name: str, msg: Any, apply: Callable[[Any, Any], None]) -> None:
        """Events from other systems: duplicates ignored; an event the rules refuse, or whose data they cannot
        carry, leaves the case as it was and becomes an anomaly (runs before ``ANOMALIES``: a refusal was dropped)."""
        if self.p.s.finished or self.p.seen(msg.event_id):
            return
        self.p.remember(msg.event_id)
        before = self.p.s.model_dump()  # a dict: the cheapest copy (≈ 0.1 ms)
        try:
            with holiday_calendar():
                apply(msg, self._today())
        except PathwayRuleError as exc:
            workflow.logger.warning("pathway event refused (%s)", exc.rule)
            if workflow.patched(ANOMALIES):
                self._restore(before)
                self._anomaly(name, msg.event_id, exc.rule)
        except DATA_ERRORS as exc:
            workflow.logger.warning("pathway event not applicable (%s)", type(exc).__name__)
            self._restore(before)
            if workflow.patched(ANOMALIES):
                self._anomaly(name, msg.event_id, _data_code(exc))

    def _restore(self, before: dict[str, Any]) -> None:
        """Put the state back as it was before a message that could not be applied (in place: the main loop
        holds the state object)."""
        state = type(self.p.s).model_validate(before)
        for field in type(state).model_fields:
            setattr(self.p.s, field, getattr(state, field))

    def _anomaly(self, name: str, event_id: str, code: str) -> None:
        with holiday_calendar():
            self.p.refuse(name, event_id, code, self._today())
        self._refused.add(1, {"message": name, "code": code})

    def _validate(self, msg: Any, check: Callable[[Any, Any], None]) -> None:
        if self.p.seen(msg.event_id):
            return  # a re-sent command: accepted, and the handler does nothing
        if self.p.s.finished:
            raise ApplicationError("The pathway is closed", type="PATHWAY_CLOSED", non_retryable=True)
        try:
            with holiday_calendar():
                check(msg, self._today())
        except PathwayRuleError as exc:
            raise ApplicationError(str(exc), type=exc.rule, non_retryable=True) from None
        except DATA_ERRORS as exc:
            code = _data_code(exc)
            raise ApplicationError(f"{code}: {exc}", type=code, non_retryable=True) from None

    def _command(self, msg: Any, check: Callable[[Any, Any], None], apply: Callable[[Any, Any], None]) -> CommandResult:
        if self.p.seen(msg.event_id):
            return CommandResult(stage=self.p.s.stage, duplicate=True)
        self._validate(msg, check)  # state may have moved since the validator ran
        before = self.p.s.model_dump()  # a dict: the cheapest copy (≈ 0.1 ms)
        self.p.remember(msg.event_id)
        try:
            with holiday_calendar():
                apply(msg, self._today())
        except DATA_ERRORS as exc:  # validated, yet the dates cannot carry it: the case stays as it was
            self._restore(before)
            code = _data_code(exc)
            if workflow.patched(ANOMALIES):
                self._anomaly(workflow.current_update_info().name, msg.event_id, code)
            raise ApplicationError(f"{code}: the command could not be applied", type=code, non_retryable=True) from None
        if workflow.patched(DECISION_LOG):
            record_decision(self.p, workflow.current_update_info().name, msg, self._today())
        return CommandResult(stage=self.p.s.stage)
