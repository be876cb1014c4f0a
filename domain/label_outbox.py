"""What the two label aggregates (``LabelApplication``, ``Label``) share: the typed effects they decide, the
outbox that queues them, the one duplicate-event guard, dates reported by people, and refusals.

An aggregate changes its state in place and appends effects to ``outbox`` in the order they must happen; the
workflow drains the outbox in that order (one activity per effect, the order of the recorded histories) and
answers the aggregate back when an effect has a result (``label_started``). ``check_*`` methods only read and
raise :class:`PathwayRuleError` (``rule``: the refusal's stable code), which the workflows give their update
validators' refusals, so the API answers 409 with the rule. Pure: the clock and the workflow's patches are
injected (``today``, ``patched``); a pure caller gets today's rules and every patch.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from domain import tasks as assignee
from domain.label_contract import LabelLostNotice, LabelTask, LabelTaskDetails, LetterDates, LetterEvent, RegisteredLetter
from domain.label_state import LabelState
from domain.label_messages import Superseded
from domain.pathway_stages import PathwayRuleError
from domain.rules import ImplausibleDate, RuleSet, check_plausible_date, rule_set
from domain.tasks import TaskClosure, TaskStatus

#: How many inbound event ids a case remembers to ignore duplicates.
SEEN_EVENT_IDS = 200

#: A label case closes its tasks when the event they wait for arrives (one more activity at that event): asked
#: where the closure is decided, so runs that passed that point before it leave their tasks open.
CLOSES_TASKS = "label-closes-its-tasks"
#: Every notified decision produces a letter (HTML, PDF) and its sending task.
LETTERS = "label-letters"
#: A refusal letter not even recorded as posted has a reminder too.
POSTING_CLOCK = "label-letter-posting-clock"

Timed = list[tuple[datetime, Callable[[], None]]]


class CreateTask(BaseModel):
    model_config = ConfigDict(frozen=True)
    effect: Literal["create_task"] = "create_task"
    task: LabelTask


class SendLetter(BaseModel):
    """Render, store and ask the DPID to post a registered letter."""

    model_config = ConfigDict(frozen=True)
    effect: Literal["send_letter"] = "send_letter"
    letter: RegisteredLetter


class RecordLetterEvent(BaseModel):
    model_config = ConfigDict(frozen=True)
    effect: Literal["letter_event"] = "letter_event"
    event: LetterEvent


class CloseTasks(BaseModel):
    model_config = ConfigDict(frozen=True)
    effect: Literal["close_tasks"] = "close_tasks"
    closures: list[TaskClosure]


class StartLabel(BaseModel):
    """Start the granted label's workflow; the aggregate is told the result (``label_started``)."""

    model_config = ConfigDict(frozen=True)
    effect: Literal["start_label"] = "start_label"
    workflow_id: str
    label: LabelState


class SupersedeApplication(BaseModel):
    """Tell the application whose moratorium this one follows that it is superseded (it may be closed)."""

    model_config = ConfigDict(frozen=True)
    effect: Literal["supersede"] = "supersede"
    workflow_id: str
    message: Superseded


class NotifyLabelLost(BaseModel):
    """Signal every pathway whose referent belongs to the structure that its label is lost."""

    model_config = ConfigDict(frozen=True)
    effect: Literal["label_lost"] = "label_lost"
    notice: LabelLostNotice


LabelEffect = Annotated[Union[CreateTask, SendLetter, RecordLetterEvent, CloseTasks, StartLabel, SupersedeApplication,
                              NotifyLabelLost], Field(discriminator="effect")]


def refuse(message: str, rule: str = "InvalidCommand") -> None:
    """A business refusal, with its stable code (the API's ``rule``)."""
    raise PathwayRuleError(rule, message)


def _today_in_paris() -> date:
    from domain.deadlines import paris_date  # a pure caller's clock; the workflow injects workflow.now()'s

    return paris_date(datetime.now().astimezone())


class LabelCaseRules:
    """The state (``s``), its rule set, the outbox and the primitives both label aggregates are written with."""

    s: Any

    def __init__(self, state: Any, workflow_id: str, *, today: Callable[[], date] = _today_in_paris,
                 patched: Callable[[str], bool] = lambda change: True) -> None:
        self.s = state
        self.workflow_id = workflow_id
        self._today = today
        self._patched = patched
        self.outbox: list[LabelEffect] = []
        self.changed = False

    @property
    def rules(self) -> RuleSet:
        return rule_set(self.s.rule_set_version)

    def today(self) -> date:
        return self._today()

    # --- the one duplicate-event guard -----------------------------------------------------------------

    def seen(self, event_id: str) -> bool:
        return event_id in self.s.seen_event_ids

    def once(self, event_id: str, apply: Callable[[], None]) -> bool:
        """Apply a message the first time its event id arrives; a duplicate changes nothing (False)."""
        if self.seen(event_id):
            return False
        self.remember(event_id)
        apply()
        return True

    def remember(self, event_id: str) -> None:
        self.s.seen_event_ids = (self.s.seen_event_ids + [event_id])[-SEEN_EVENT_IDS:]
        self.touch()

    def touch(self) -> None:
        self.s.version += 1
        self._on_touch()
        self.changed = True

    def _on_touch(self) -> None:
        """Hook: derive what depends on the state (e.g. the displayed stage)."""

    # --- effects ---------------------------------------------------------------------------------------

    def task_key(self, kind: str, ref: str) -> str:
        return f"{self.workflow_id}:{kind}:{ref}"

    def _task(self, kind: str, to: str, ref: str, due: date | None = None, **details: Any) -> None:
        """A human task (idempotent by its key); ``details`` are ``LabelTaskDetails`` fields."""
        self.outbox.append(CreateTask(task=LabelTask(
            task_key=self.task_key(kind, ref), workflow_id=self.workflow_id, kind=kind, assignee=to, due_date=due,
            details=LabelTaskDetails(structure_id=self.s.structure_id, **details))))

    def _letter(self, key: str, kind: str, decided_on: date, reasons: list[str],
                dates: LetterDates | None = None) -> None:
        """A letter of the case: kept as written (rendered on demand), then sent."""
        letter = RegisteredLetter(letter_key=key, workflow_id=self.workflow_id, structure_id=self.s.structure_id,
                                  territory=self.s.territory, kind=kind, decided_on=decided_on, reasons=reasons,
                                  dates=dates or LetterDates())
        self.s.documents = self.s.documents + [letter]
        self.outbox.append(SendLetter(letter=letter))

    def _letter_event(self, key: str, *, registered_number: str | None = None, sent_on: date | None = None,
                      received_on: date | None = None) -> None:
        self.outbox.append(RecordLetterEvent(event=LetterEvent(
            letter_key=key, registered_number=registered_number, sent_on=sent_on, received_on=received_on)))

    def _close_tasks(self, refs: list[tuple[str, str]], reason: str, status: TaskStatus = TaskStatus.DONE) -> None:
        """The event the tasks ``(kind, ref)`` waited for arrived (or made them moot: ``CANCELLED``): close them,
        after their creation."""
        if not refs or not self._patched(CLOSES_TASKS):
            return
        self.outbox.append(CloseTasks(closures=[TaskClosure(task_key=self.task_key(kind, ref), status=status,
                                                            reason=reason) for kind, ref in refs]))

    def document(self, letter_key: str) -> RegisteredLetter | None:
        return next((d for d in self.s.documents if d.letter_key == letter_key), None)

    def _slai(self) -> str:
        return assignee.slai(self.s.territory)

    # --- dates -----------------------------------------------------------------------------------------

    def _date_or_today(self, value: date | None) -> date:
        return value if value is not None else self.today()

    def _check_date(self, value: date | None, not_before: date | None, what: str) -> date:
        """A reported date (default today) that is neither in the future nor before ``not_before``."""
        day, today = self._date_or_today(value), self.today()
        if day > today:
            refuse(f"{what} {day.isoformat()} is in the future")
        if not_before is not None and day < not_before:
            refuse(f"{what} {day.isoformat()} is before {not_before.isoformat()}")
        try:
            return check_plausible_date(day, today, field=what)
        except ImplausibleDate as error:
            raise PathwayRuleError("ImplausibleDate", str(error)) from None

    # --- clocks ----------------------------------------------------------------------------------------

    def timed(self) -> Timed:
        """Every deadline the case waits for: its instant and what happens then."""
        raise NotImplementedError

    def next_wake(self, now: datetime) -> datetime | None:
        future = [instant for instant, _ in self.timed() if instant > now]
        return min(future) if future else None

    @staticmethod
    def fire_due(events: Timed, now: datetime, still: Callable[[], bool] = lambda: True) -> None:
        """Fire the due deadlines of ``events`` (computed before any fires) in time order."""
        for instant, fire in sorted(events, key=lambda e: e[0]):
            if instant <= now and still():
                fire()

