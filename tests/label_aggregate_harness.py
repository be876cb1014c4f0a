"""Helpers of the pure label aggregate tests (``test_label_application_aggregate``, ``test_label_aggregate``):
a settable clock, Paris midnights, the way the workflow applies an update, and the outbox read as kinds."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Callable

from domain.deadlines import PARIS
from domain.label_outbox import CreateTask, LabelCaseRules, SendLetter


class Clock:
    """``today`` of an aggregate, moved by the test."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=PARIS)


def send(case: LabelCaseRules, msg: Any, check: Callable[[Any], None], apply: Callable[[Any], None]) -> None:
    """What the workflow does with an update: the aggregate's check (its refusal raises), then the message
    applied once."""
    check(msg)
    case.once(msg.event_id, lambda: apply(msg))


def kinds(case: LabelCaseRules) -> list[str]:
    """The outbox in order: a task by its kind, a letter as ``letter:<kind>``, any other effect by its name."""
    out = []
    for effect in case.outbox:
        if isinstance(effect, CreateTask):
            out.append(effect.task.kind)
        elif isinstance(effect, SendLetter):
            out.append(f"letter:{effect.letter.kind}")
        else:
            out.append(effect.effect)
    return out
