"""What the label workflows share: message routing to their aggregate, the drain of its outbox, the main loop.

Not a workflow itself. A label workflow holds ``case``, a pure aggregate (``domain.label_application_rules`` or
``domain.label_rules``); its handlers only route: a validator runs the aggregate's ``check_*`` (its refusal
becomes the update's typed refusal, so the API answers 409 with the rule), a handler applies the message
(``_apply``: the one duplicate-event guard, the aggregate's ``seen``/``remember``). The main loop fires due
deadlines, drains the outbox in order (one activity per effect, by the names of ``domain.label_contract``),
records the read model when the state changed, publishes the search attributes and sleeps until the next
deadline or the next change.
"""

import asyncio
from datetime import datetime, timedelta
from typing import Any, Callable

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import paris_date
    from domain.label_contract import (
        ACT_CLOSE_TASKS,
        ACT_CREATE_TASK,
        ACT_NOTIFY_PATHWAYS_LABEL_LOST,
        ACT_RECORD_LETTER_EVENT,
        ACT_SEND_REGISTERED_LETTER,
        LABEL_WORKFLOW,
        LETTER_QUERY,
        RegisteredLetter,
    )
    from domain.label_contract import ApplicationMessages as A
    from domain.label_outbox import (
        CloseTasks,
        CreateTask,
        LabelCaseRules,
        LabelEffect,
        NotifyLabelLost,
        RecordLetterEvent,
        SendLetter,
        StartLabel,
        SupersedeApplication,
    )
    from domain.pathway_stages import PathwayRuleError
    from workflows.pathway_settings import LOCAL_RECORD_OPTIONS
    from workflows.search_attributes import LABEL_STAGE, NEXT_DEADLINE
    from workflows.search_attributes import instant as sa_instant
    from workflows.holiday_calendar import holiday_calendar

#: Bounded retries of the read-model / outbox activities of both label workflows.
ACTIVITY_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(days=2),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
)
#: Signalling every pathway of a structure may take a while: heartbeats, a longer start-to-close.
NOTIFY_OPTIONS: dict[str, Any] = dict(start_to_close_timeout=timedelta(minutes=10),
                                      heartbeat_timeout=timedelta(minutes=1),
                                      schedule_to_close_timeout=timedelta(days=2))



class LabelCaseWorkflow:
    """Routing, outbox drain and main loop over ``case``; subclasses call ``_init_case()`` in ``__init__``."""

    case: LabelCaseRules

    def _init_case(self) -> None:
        self._published: tuple | None = None
        self._recorded_version = -1

    def _today(self):
        return paris_date(workflow.now())

    # --- routing ---------------------------------------------------------------------------------------

    def _refusal(self, check: Callable[[Any], None], msg: Any) -> PathwayRuleError | None:
        """The aggregate's refusal of a new message, if any (a message already applied is not judged again)."""
        if self.case.seen(msg.event_id):
            return None
        try:
            with holiday_calendar():
                check(msg)
        except PathwayRuleError as error:
            return error
        return None

    def _check(self, check: Callable[[Any], None], msg: Any) -> None:
        """An update's validator: the aggregate's refusal is the update's, typed (the API's 409 ``rule``)."""
        refusal = self._refusal(check, msg)
        if refusal is not None:
            raise ApplicationError(str(refusal), type=refusal.rule, non_retryable=True)

    def _apply(self, apply: Callable[[Any], None], msg: Any) -> Any:
        """Apply a message once: a duplicate answers the current stage and changes nothing."""
        try:
            with holiday_calendar():
                self.case.once(msg.event_id, lambda: apply(msg))
        except PathwayRuleError as error:  # the state moved since the validator: the update fails, typed
            raise ApplicationError(str(error), type=error.rule, non_retryable=True) from None
        return self.case.s.stage

    def _signal(self, check: Callable[[Any], None], apply: Callable[[Any], None], msg: Any) -> None:
        """A signal from another workflow: applied once when its check passes, else ignored."""
        refusal = self._refusal(check, msg)
        if refusal is not None:
            workflow.logger.info("label signal ignored", extra={"rule": refusal.rule})
            return
        self._apply(apply, msg)

    @workflow.query(name=LETTER_QUERY)
    def letter(self, letter_key: str) -> RegisteredLetter | None:
        """A letter of this case, to render (its reasons are free text: they never leave the encrypted case
        except through this query, which the API answers to authorised callers)."""
        return self.case.document(letter_key)

    # --- the outbox ------------------------------------------------------------------------------------

    async def _run_effects(self) -> None:
        while self.case.outbox:
            await self._run(self.case.outbox.pop(0))

    async def _run(self, effect: LabelEffect) -> None:
        if isinstance(effect, CreateTask):
            await workflow.execute_activity(ACT_CREATE_TASK, effect.task, **ACTIVITY_OPTIONS)
        elif isinstance(effect, SendLetter):
            await workflow.execute_activity(ACT_SEND_REGISTERED_LETTER, effect.letter, result_type=str,
                                            **ACTIVITY_OPTIONS)
        elif isinstance(effect, RecordLetterEvent):
            await workflow.execute_activity(ACT_RECORD_LETTER_EVENT, effect.event, **ACTIVITY_OPTIONS)
        elif isinstance(effect, CloseTasks):
            # A local activity, so the effects after it (a granted label's start) wait milliseconds, not an
            # activity task; a regular one if it fails.
            try:
                await workflow.execute_local_activity(ACT_CLOSE_TASKS, effect.closures, **LOCAL_RECORD_OPTIONS)
            except (ActivityError, ApplicationError, ActivityTimeoutError):
                await workflow.execute_activity(ACT_CLOSE_TASKS, effect.closures, **ACTIVITY_OPTIONS)
        elif isinstance(effect, StartLabel):
            try:
                await workflow.start_child_workflow(LABEL_WORKFLOW, effect.label, id=effect.workflow_id,
                                                    parent_close_policy=workflow.ParentClosePolicy.ABANDON)
                already = False
            except WorkflowAlreadyStartedError:
                already = True
            with holiday_calendar():
                self.case.label_started(effect.workflow_id, already_running=already)  # type: ignore[attr-defined]
        elif isinstance(effect, SupersedeApplication):
            try:
                await workflow.get_external_workflow_handle(effect.workflow_id).signal(A.SUPERSEDED, effect.message)
            except FailureError as error:  # already closed: nothing to supersede
                workflow.logger.info("superseded application already closed", extra={"error": str(error)})
        elif isinstance(effect, NotifyLabelLost):
            await workflow.execute_activity(ACT_NOTIFY_PATHWAYS_LABEL_LOST, effect.notice, result_type=int,
                                            **NOTIFY_OPTIONS)

    async def _drain(self) -> None:
        """Run the queued effects, then record the read model if the state changed since the last record."""
        await self._run_effects()
        if self._recorded_version != self.case.s.version:
            self._recorded_version = self.case.s.version
            await self._record()

    async def _record(self) -> None:
        raise NotImplementedError

    # --- main loop -------------------------------------------------------------------------------------

    def _fire(self, now: datetime) -> None:
        raise NotImplementedError

    def _publish(self, wake: datetime | None) -> None:
        """Upsert LabelStage and NextDeadline when they changed (no personal data)."""
        key = (self.case.s.stage, wake)
        if key == self._published:
            return
        self._published = key
        workflow.upsert_search_attributes([
            LABEL_STAGE.value_set(self.case.s.stage.value),
            NEXT_DEADLINE.value_set(sa_instant(wake)) if wake else NEXT_DEADLINE.value_unset(),
        ])

    def _next_wake(self) -> datetime | None:
        with holiday_calendar():
            return self.case.next_wake(workflow.now())

    async def _serve(self, done: Callable[[], bool]) -> None:
        """Fire due deadlines, run queued effects, publish, then sleep until the next deadline or the next
        handler's change; return once ``done()``."""
        case = self.case
        while True:
            with holiday_calendar():
                self._fire(workflow.now())
            await self._drain()
            if done():
                return
            wake = self._next_wake()
            self._publish(wake)
            if case.changed or case.outbox:
                case.changed = False
                continue
            timeout = None if wake is None else wake - workflow.now()
            if timeout is not None and timeout <= timedelta(0):
                continue
            try:
                await workflow.wait_condition(lambda: case.changed or bool(case.outbox), timeout=timeout)
            except asyncio.TimeoutError:
                pass
