"""The pathway workflow's main loop and the three ways a message is applied, shared by every cached run.

``BeneficiaryPathway`` (``workflows.pathway``) is only its definition: the sandbox imports that module afresh for
each run, so what lives there costs memory per cached pathway (docs/worker-memory.md). Everything else is here, in a
module passed through the sandbox after the check of ``workers.runtime.sandbox_passthrough`` (imports of pure or
passed-through modules only, no module- or class-level state), like the handlers it extends. The loop writes what the
rules decided (one activity per batch), pushes to MonJob62, counts breaches and decisions (business metrics),
upserts search attributes and the UI summary, and waits for the next deadline with ``wait_condition`` so an event
can move it; it continues as new at each CER cycle and when the server suggests it, carrying the whole state.
"""

from typing import Any, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

from domain.pathway_contract import PUSH_MONJOB62, RECORD_EFFECTS
from domain.deadlines import paris_date
from domain.pathway import (
    CommandResult,
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
from workflows.pathway_settings import (
    ADOPTED_CASELOAD,
    ANOMALIES,
    BREACHES_WITHDRAWN,
    CLOSE_TASKS,
    COUNTERS,
    CONTINUE_AT_DESIGNATION,
    DATA_ERRORS,
    DEADLINES_BREACHED,
    DECISION_LOG,
    DECISIONS,
    GESICA_AT_CER,
    LOCAL_RECORD_OPTIONS,
    PATCHES_IN_START,
    PUSH_OPTIONS,
    RECORD_LOCALLY,
    RECORD_OPTIONS,
    RECORD_RETRY_PAUSE,
    REFERENT_STRUCTURE,
    REFUSED_EVENTS,
    REMINDERS,
    RULE_SETS_BY_ENTRY_DATE,
    START_PATCHES,
)


def _data_code(error: BaseException) -> str:
    if isinstance(error, PathwayRuleError):
        return error.rule
    return "IMPLAUSIBLE_DATE" if isinstance(error, ImplausibleDate) else "DATA_NOT_APPLICABLE"


class PathwayLoop(PathwayHandlers):
    """What ``BeneficiaryPathway`` does, minus its definition (``workflows.pathway``)."""

    def _start(self, inp: PathwayInput) -> None:
        """The workflow's ``__init__``: the state, from the input (new, adopted or continued)."""
        self._start_patches = workflow.patched(START_PATCHES)
        if inp.state is not None:
            self.p = Pathway(inp.state, patched=self._rule_changed)
        elif inp.adoption is not None:
            self.p = Pathway(inp.adoption, patched=self._rule_changed)
        else:
            self.p = Pathway.new(inp.person_id, inp.territory, paris_date(workflow.now()), patched=self._rule_changed,
                                 rules_by_entry_date=self._patched(RULE_SETS_BY_ENTRY_DATE), seq=inp.seq_base)
        self._search_attributes: dict[str, Any] = {}
        self._counters: dict[str, Any] = {}

    # ------------------------------------------------------------------ main loop

    async def _run(self, inp: PathwayInput) -> PathwayView:
        """The workflow's ``run``: write, wait for the next deadline or message, continue as new at a boundary."""
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
            except TimeoutError:  # asyncio.TimeoutError since Python 3.11
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
                    self._count(DEADLINES_BREACHED, {"deadline_kind": breach.kind.value})
                else:
                    self._count(BREACHES_WITHDRAWN, {"deadline_kind": breach.kind.value})
            for decision in decisions:
                self._count(DECISIONS, {"decision_kind": decision.kind.value, "outcome": decision.outcome})
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
        updates: list[Any] = []  # SearchAttributeUpdate
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

    def _count(self, name: str, attributes: dict[str, str]) -> None:
        """Add one to a business counter, created at its first use in the run: most cached runs count nothing, and
        the run's meter and each counter hold native memory for as long as the run is cached."""
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = workflow.metric_meter().create_counter(name, COUNTERS[name])
        counter.add(1, attributes)

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
        self._count(REFUSED_EVENTS, {"message": name, "code": code})

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
