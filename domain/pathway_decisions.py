"""People's commands on a pathway: checked before they are accepted, recorded with who sent them.

* ``check_by_trial``: commands that were signals (appointment, diagnostic, non-compliance, EP decision,
  perdus-de-vue convocation) have no ``check_*`` of their own; their rule is the handler itself, which raises
  ``PathwayRuleError`` before it changes anything. An update validator applies it to a copy of the state, so the
  refusal is answered to the sender and nothing is recorded — one rule, written once.
* ``record_decision``: the case's decision list (bounded) and the read model's ``pathway_decisions`` rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

from domain.actor import Actor
from domain.pathway import DecisionRecord, PathwayMessage
from domain.pathway_rules import Pathway

#: Decisions kept in the state (the read model keeps them all).
MAX_DECISION_LOG = 50


def check_by_trial(p: Pathway, apply: Callable[[Pathway, Any, date], None], msg: PathwayMessage, today: date) -> None:
    """Raise what ``apply`` would raise on this state, changing nothing (``apply`` is an unbound handler)."""
    apply(Pathway(p.s.model_copy(deep=True)), msg, today)


def record_decision(p: Pathway, command: str, msg: PathwayMessage, today: date) -> DecisionRecord:
    """Log an applied command with its sender; ``actor`` may be None on messages sent before it existed."""
    s = p.s
    actor: Actor | None = msg.actor
    s.seq += 1
    record = DecisionRecord(seq=s.seq, command=command, on=today, stage=s.stage,
                            service=actor.service if actor else None, actor=actor.person if actor else None)
    s.decision_log.append(record)
    if len(s.decision_log) > MAX_DECISION_LOG:
        del s.decision_log[: len(s.decision_log) - MAX_DECISION_LOG]
    s.outbox.decision_records.append(record)
    return record


def last_decision_summary(p: Pathway) -> str:
    """`` · last: sign_cer by agent:… via sdis on 2026-03-02`` (ids and categories only); nothing when the last
    command came without its sender (a client that does not set ``actor``)."""
    if not p.s.decision_log or p.s.decision_log[-1].service is None:
        return ""
    last = p.s.decision_log[-1]
    who = Actor(service=last.service, person=last.actor).label()
    return f" · last: {last.command} by {who} on {last.on.isoformat()}"
