"""What the two label workflows (``LabelApplication`` and ``Label``) share: the case helpers.

Not a workflow itself. Both workflows keep their state in one pydantic model with ``seen_event_ids``,
``version``, ``structure_id``, ``territory``, ``stage`` and ``rule_set_version``; effects (activities) are
queued by handlers and run by the main loop; every deadline is an instant in ``_timed()``.
"""

import asyncio
import functools
from datetime import date, datetime, timedelta
from typing import Any, Awaitable, Callable

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from domain import tasks as assignee
    from domain.tasks import TaskClosure
    from workflows.pathway import LOCAL_RECORD_OPTIONS
    from domain.deadlines import paris_date
    from domain.label_appeal import AppealError
    from domain.label_contract import (
        ACT_CREATE_TASK,
        ACT_RECORD_LETTER_EVENT,
        ACT_SEND_REGISTERED_LETTER,
        LabelTask,
        LetterEvent,
        RegisteredLetter,
    )
    from domain.rules import ImplausibleDate, RuleSet, check_plausible_date, rule_set

    from workflows.search_attributes import LABEL_STAGE, NEXT_DEADLINE
    from workflows.search_attributes import instant as sa_instant

from workflows.holiday_calendar import holiday_calendar

#: Bounded retries of the read-model / outbox activities of both label workflows.
ACTIVITY_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(days=2),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
)

#: A label workflow closes its tasks when the event they wait for arrives (one more activity at that event): the
#: patch is asked where the closure is decided, so runs that passed that point before it leave their tasks open.
CLOSES_TASKS = "label-closes-its-tasks"

#: How many inbound event ids a case remembers to ignore duplicates.
SEEN_EVENT_IDS = 200


def reject(message: str, kind: str = "InvalidCommand") -> None:
    """A business refusal: non-retryable, typed, with a message for people."""
    raise ApplicationError(message, type=kind, non_retryable=True)


def once(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The one duplicate-event guard of the label updates: a message whose ``event_id`` the case has seen
    answers the current stage and changes nothing; a new one is remembered, then handled."""

    @functools.wraps(handler)
    async def guarded(self: "LabelCase", msg: Any) -> Any:
        if self._seen(msg.event_id):
            return self.state.stage
        self._mark(msg.event_id)
        return await handler(self, msg)

    return guarded


def unless_seen(validator: Callable[..., None]) -> Callable[..., None]:
    """A validator does not judge a message already applied (its retry is answered by ``once``)."""

    @functools.wraps(validator)
    def guarded(self: "LabelCase", msg: Any) -> None:
        if not self._seen(msg.event_id):
            validator(self, msg)

    return guarded


def checked(check: Callable[..., Any], *args: Any) -> Any:
    """Run a domain check (``domain.label_appeal``); its ``AppealError`` becomes the update's typed refusal."""
    try:
        return check(*args)
    except AppealError as error:
        reject(error.message, error.kind)


def calendar_bound(fn, *args):
    """``fn(*args)`` inside :func:`workflows.holiday_calendar.holiday_calendar` (a party-deadline computation)."""
    with holiday_calendar():
        return fn(*args)


class LabelCase:
    """Helpers over ``self.state`` for a label workflow; subclasses call ``_init_case()`` in ``__init__``."""

    state: Any

    def _init_case(self) -> None:
        self._effects: list[Callable[[], Awaitable[None]]] = []
        self._changed = False
        self._published: tuple | None = None
        self._recorded_version = -1

    @property
    def rules(self) -> RuleSet:
        return rule_set(self.state.rule_set_version)

    def _today(self) -> date:
        return paris_date(workflow.now())

    def _wid(self) -> str:
        return workflow.info().workflow_id

    def _seen(self, event_id: str) -> bool:
        return event_id in self.state.seen_event_ids

    def _mark(self, event_id: str) -> None:
        self.state.seen_event_ids = (self.state.seen_event_ids + [event_id])[-SEEN_EVENT_IDS:]
        self._touch()

    def _touch(self) -> None:
        self.state.version += 1
        self._on_touch()
        self._changed = True

    def _on_touch(self) -> None:
        """Hook: derive what depends on the state (e.g. the displayed stage)."""

    def _task_key(self, kind: str, ref: str) -> str:
        return f"{self._wid()}:{kind}:{ref}"

    def _task(self, kind: str, assignee: str, ref: str, due: date | None = None, **details) -> None:
        """Queue a human task (idempotent by its key) for the main loop to create."""
        task = LabelTask(task_key=self._task_key(kind, ref), workflow_id=self._wid(), kind=kind, assignee=assignee,
                         due_date=due, details={"structure_id": self.state.structure_id, **details})

        async def run() -> None:
            await workflow.execute_activity(ACT_CREATE_TASK, task, **ACTIVITY_OPTIONS)

        self._effects.append(run)

    def _letter(self, key: str, kind: str, decided_on: date, reasons: list[str],
                dates: dict[str, date] | None = None) -> None:
        """Queue a letter: the activity renders it (HTML, PDF), stores it and asks the DPID to post it."""
        letter = RegisteredLetter(letter_key=key, workflow_id=self._wid(), structure_id=self.state.structure_id,
                                  territory=self.state.territory, kind=kind, decided_on=decided_on, reasons=reasons,
                                  dates=dates or {})
        self.state.documents = self.state.documents + [letter]

        async def send() -> None:
            await workflow.execute_activity(ACT_SEND_REGISTERED_LETTER, letter, result_type=str, **ACTIVITY_OPTIONS)

        self._effects.append(send)

    def _letter_event(self, key: str, *, registered_number: str | None = None, sent_on: date | None = None,
                      received_on: date | None = None) -> None:
        """Queue the posting or the receipt of a letter for its read-model row."""
        event = LetterEvent(letter_key=key, registered_number=registered_number, sent_on=sent_on,
                            received_on=received_on)

        async def record() -> None:
            await workflow.execute_activity(ACT_RECORD_LETTER_EVENT, event, **ACTIVITY_OPTIONS)

        self._effects.append(record)

    @workflow.query(name="letter")
    def letter(self, letter_key: str) -> RegisteredLetter | None:
        """A letter of this case, to render (its reasons are free text: they never leave the encrypted case
        except through this query, which the API answers to authorised callers)."""
        return next((d for d in self.state.documents if d.letter_key == letter_key), None)

    def _close_tasks(self, refs: list[tuple[str, str]], reason: str) -> None:
        """The event the tasks ``(kind, ref)`` waited for arrived: the main loop closes them with ``reason``, in
        order with the case's other effects (after the tasks' creation). A local activity, so the effects queued
        after it (a granted label's start) wait milliseconds, not an activity task; a regular one if it fails."""
        if not refs or not workflow.patched(CLOSES_TASKS):
            return
        closures = [TaskClosure(task_key=self._task_key(kind, ref), reason=reason) for kind, ref in refs]

        async def run() -> None:
            try:
                await workflow.execute_local_activity("label.close_tasks", closures, **LOCAL_RECORD_OPTIONS)
            except (ActivityError, ApplicationError, ActivityTimeoutError):
                await workflow.execute_activity("label.close_tasks", closures, **ACTIVITY_OPTIONS)

        self._effects.append(run)

    def _slai(self) -> str:
        return assignee.slai(self.state.territory)

    def _date_or_today(self, value: date | None) -> date:
        return value if value is not None else self._today()

    def _check_date(self, value: date | None, not_before: date | None, what: str) -> date:
        """A reported date (default today) that is neither in the future nor before ``not_before``."""
        day = self._date_or_today(value)
        if day > self._today():
            reject(f"{what} {day.isoformat()} is in the future")
        if not_before is not None and day < not_before:
            reject(f"{what} {day.isoformat()} is before {not_before.isoformat()}")
        try:
            return check_plausible_date(day, self._today(), field=what)
        except ImplausibleDate as error:
            reject(str(error), "ImplausibleDate")
            raise

    def _publish(self, wake: datetime | None) -> None:
        """Upsert LabelStage and NextDeadline when they changed (no personal data)."""
        key = (self.state.stage, wake)
        if key == self._published:
            return
        self._published = key
        workflow.upsert_search_attributes(
            [
                LABEL_STAGE.value_set(self.state.stage.value),
                NEXT_DEADLINE.value_set(sa_instant(wake)) if wake else NEXT_DEADLINE.value_unset(),
            ]
        )

    def _timed(self) -> list[tuple[datetime, Callable[[], None]]]:
        raise NotImplementedError

    def _on_time(self) -> None:
        raise NotImplementedError

    async def _drain(self) -> None:
        raise NotImplementedError

    async def _serve(self, done: Callable[[], bool]) -> None:
        """The main loop: fire due deadlines, run queued effects, publish, then sleep until the next
        deadline or the next handler's change; return once ``done()``."""
        while True:
            self._on_time()
            await self._drain()
            if done():
                return
            wake = self._next_wake()
            self._publish(wake)
            if self._changed or self._effects:
                self._changed = False
                continue
            timeout = None if wake is None else wake - workflow.now()
            if timeout is not None and timeout <= timedelta(0):
                continue
            try:
                await workflow.wait_condition(lambda: self._changed or bool(self._effects), timeout=timeout)
            except asyncio.TimeoutError:
                pass

    def _next_wake(self) -> datetime | None:
        now = workflow.now()
        future = [instant for instant, _ in self._timed() if instant > now]
        return min(future) if future else None
