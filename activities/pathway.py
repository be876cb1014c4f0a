"""Pathway activities: the Postgres read model, human tasks and the MonJob62 adapter.

Every write is idempotent: read-model rows (pathway, deadlines, CERs, perdus-de-vue convocations) are upserts
guarded by the workflow's change sequence (a version that only grows), inserts of stage changes, breaches,
appointments (the indicators' facts, migration 009), people's decisions (migration 018) and tasks ignore a key
already present, and MonJob62 pushes carry an idempotency key (workflow id + kind + business reference).
"""

from __future__ import annotations

from typing import Protocol

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.tasks import NewTask, TaskStore
from domain.pathway_contract import MONJOB62_REFUSED, PUSH_MONJOB62, RECORD_EFFECTS
from domain.pathway import DeadlineStatus, MonJob62Push, PathwayEffects
from domain.pathway_caf import CafQuotaStatus, caf_quota_status
from domain.rules import RuleSet
from domain.tasks import TaskClosure


class PathwayReadModel:
    """Writes one batch of pathway effects in one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def write(self, effects: PathwayEffects) -> None:
        row, box = effects.row, effects.outbox
        pid = row.pathway_id
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, subject_to_duties,
                       referent_type, referent_structure_id, entry_date, orientation_target, orientation_notified_on,
                       caf_saisine_mode, next_deadline, breach_count, cer_count, closed_on, exit_reason, version,
                       rsa_entry_date, seq_base)
                   VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)
                   ON CONFLICT (pathway_id) DO UPDATE SET
                       rule_set = EXCLUDED.rule_set, stage = EXCLUDED.stage, subject_to_duties = EXCLUDED.subject_to_duties,
                       territory = EXCLUDED.territory,
                       referent_type = EXCLUDED.referent_type, referent_structure_id = EXCLUDED.referent_structure_id,
                       entry_date = EXCLUDED.entry_date, orientation_target = EXCLUDED.orientation_target,
                       orientation_notified_on = EXCLUDED.orientation_notified_on,
                       caf_saisine_mode = EXCLUDED.caf_saisine_mode, next_deadline = EXCLUDED.next_deadline,
                       breach_count = EXCLUDED.breach_count, cer_count = EXCLUDED.cer_count,
                       closed_on = EXCLUDED.closed_on, exit_reason = EXCLUDED.exit_reason,
                       version = EXCLUDED.version, rsa_entry_date = EXCLUDED.rsa_entry_date,
                       seq_base = EXCLUDED.seq_base, updated_at = now()
                   WHERE pathways.version < EXCLUDED.version""",
                pid, row.person_id, row.territory, row.rule_set, row.stage.value, row.subject_to_duties,
                _v(row.referent_type), row.referent_structure_id, row.entry_date, _v(row.orientation_target),
                row.orientation_notified_on, row.caf_saisine_mode, row.next_deadline, row.breach_count,
                row.cer_count, row.closed_on, _v(row.exit_reason), row.version, row.rsa_entry_date, row.seq_base,
            )
            if box.stage_changes:
                await conn.executemany(
                    """INSERT INTO stage_changes (pathway_id, seq, from_stage, to_stage, changed_on, cause)
                       VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING""",
                    [(pid, c.seq, _v(c.from_stage), c.to_stage.value, c.on, c.cause) for c in box.stage_changes],
                )
                if any(c.cause.startswith("TERRITORY_REASSIGNED:") for c in box.stage_changes):
                    await TaskStore.close(conn, [TaskClosure(  # the import's task for an unplaced pathway is done
                        task_key=f"{pid}:TERRITORY_UNASSIGNED", reason="TERRITORY_REASSIGNED")])
            if box.deadlines:
                await conn.executemany(
                    """INSERT INTO deadlines (pathway_id, deadline_id, kind, started_on, due_on, status, closed_on,
                           responsible, version)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
                       ON CONFLICT (pathway_id, deadline_id) DO UPDATE SET
                           due_on = EXCLUDED.due_on, status = EXCLUDED.status, closed_on = EXCLUDED.closed_on,
                           version = EXCLUDED.version
                       WHERE deadlines.version < EXCLUDED.version""",
                    [
                        (pid, d.id, d.kind.value, d.started_on, d.due,
                         "PAUSED" if d.paused_by and d.status is DeadlineStatus.PENDING else d.status.value,
                         d.closed_on, d.responsible, d.version)
                        for d in box.deadlines
                    ],
                )
            if box.breaches:
                await conn.executemany(
                    """INSERT INTO breaches (pathway_id, deadline_id, kind, due_on, breached_on, responsible,
                           withdrawn_on, withdrawal_reason)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
                       ON CONFLICT (pathway_id, deadline_id) DO UPDATE SET
                           withdrawn_on = EXCLUDED.withdrawn_on, withdrawal_reason = EXCLUDED.withdrawal_reason
                       WHERE breaches.withdrawn_on IS NULL AND EXCLUDED.withdrawn_on IS NOT NULL""",
                    [(pid, b.deadline_id, b.kind.value, b.due, b.breached_on, b.responsible, b.withdrawn_on,
                      b.withdrawal_reason) for b in box.breaches],
                )
            if box.cers:
                await conn.executemany(
                    """INSERT INTO pathway_cers (pathway_id, cer_id, cer_type, start_on, end_on, signed_on, renewal,
                           action_count, referent_type, structure_id, physical_appointments, version, gesica_domain,
                           contract_kind, weekly_hours)
                       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
                       ON CONFLICT (pathway_id, cer_id) DO UPDATE SET
                           physical_appointments = EXCLUDED.physical_appointments, end_on = EXCLUDED.end_on,
                           version = EXCLUDED.version
                       WHERE pathway_cers.version < EXCLUDED.version""",
                    [
                        (pid, c.cer_id, c.type.value, c.start, c.end, c.signed_on, c.renewal, c.action_count,
                         c.referent_type.value, c.structure_id, c.physical_appointments, row.version, c.gesica_domain,
                         c.contract_kind.value, c.weekly_hours)
                        for c in box.cers
                    ],
                )
            if box.appointments:
                await conn.executemany(
                    """INSERT INTO pathway_appointments (pathway_id, event_id, kind, appointment_date, recorded_on,
                           physical, excused)
                       VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING""",
                    [(pid, a.event_id, a.kind.value, a.appointment_date, a.recorded_on, a.physical, a.excused)
                     for a in box.appointments],
                )
            if box.convocations:
                await conn.executemany(
                    """INSERT INTO lost_from_view_convocations (pathway_id, convocation_id, convoked_on,
                           appointment_date, outcome, version)
                       VALUES ($1,$2,$3,$4,$5,$6)
                       ON CONFLICT (pathway_id, convocation_id) DO UPDATE SET
                           convoked_on = EXCLUDED.convoked_on, appointment_date = EXCLUDED.appointment_date,
                           outcome = EXCLUDED.outcome, version = EXCLUDED.version
                       WHERE lost_from_view_convocations.version < EXCLUDED.version""",
                    [(pid, c.convocation_id, c.convoked_on, c.appointment_date, _v(c.outcome), c.version)
                     for c in box.convocations],
                )
            if box.decision_records:
                await conn.executemany(
                    """INSERT INTO pathway_decisions (pathway_id, seq, command, decided_on, stage, service, actor)
                       VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING""",
                    [(pid, d.seq, d.command, d.on, d.stage.value, d.service, d.actor) for d in box.decision_records],
                )
            if box.anomalies:
                await conn.executemany(
                    """INSERT INTO pathway_anomalies (pathway_id, anomaly_id, message, event_id, code, stage, received_on)
                       VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING""",
                    [(pid, a.anomaly_id, a.message, a.event_id, a.code, a.stage.value, a.received_on)
                     for a in box.anomalies],
                )
            await TaskStore.create(conn, [NewTask(workflow_id=pid, **t.model_dump()) for t in box.tasks])
            await TaskStore.close(conn, box.task_closures)

    async def caf_accompaniments(self, year: int) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM caf_accompaniments_by_year WHERE year = $1", year)

    async def caf_quota(self, year: int, rules: RuleSet, etp: int | None = None) -> CafQuotaStatus:
        """CAF quota counters for reporting (≥ 20 per ETP, 1 300 per year)."""
        return caf_quota_status(year, await self.caf_accompaniments(year), rules, etp)


def _v(enum_value) -> str | None:
    return None if enum_value is None else enum_value.value


# ---------------------------------------------------------------- MonJob62


class MonJob62Refused(Exception):
    """A port may raise this for a refusal; the activity turns it into the adapter's non-retryable error type."""


class MonJob62Port(Protocol):
    """What the pathway needs from MonJob62: push a CER, a bilan or an exit, idempotently by key."""

    async def push(self, item: MonJob62Push) -> str: ...


class InMemoryMonJob62:
    """In-process fake until the flow/adapter issue brings the simulator; keeps the first push of each key."""

    def __init__(self) -> None:
        self.received: dict[str, MonJob62Push] = {}
        self.refused_kinds: set[str] = set()
        self.attempts: list[str] = []  # idempotency keys, one per call (retries included)

    async def push(self, item: MonJob62Push) -> str:
        self.attempts.append(item.idempotency_key)
        if item.kind in self.refused_kinds:  # as the HTTP adapter does on a 4xx
            raise ApplicationError(f"MonJob62 refused a {item.kind}", type=MONJOB62_REFUSED, non_retryable=True)
        if item.idempotency_key in self.received:
            return "duplicate"
        self.received[item.idempotency_key] = item
        return "accepted"


# ---------------------------------------------------------------- activities


class PathwayActivities:
    """Activities of ``BeneficiaryPathway``, built in ``workers/runtime/registry.py`` with their adapters."""

    def __init__(self, read_model: PathwayReadModel, monjob62: MonJob62Port) -> None:
        self.read_model = read_model
        self.monjob62 = monjob62

    @activity.defn(name=RECORD_EFFECTS)
    async def record_effects(self, effects: PathwayEffects) -> None:
        await self.read_model.write(effects)

    @activity.defn(name=PUSH_MONJOB62)
    async def push_monjob62(self, item: MonJob62Push) -> str:
        try:
            return await self.monjob62.push(item)
        except MonJob62Refused as exc:
            raise ApplicationError(str(exc), type=MONJOB62_REFUSED, non_retryable=True) from exc

    def all(self) -> list:
        return [self.record_effects, self.push_monjob62]


def monjob62_port(client=None) -> MonJob62Port:
    """The HTTP adapter (``activities.monjob.MonJob62HttpPort``) when MonJob62 is configured, else the fake."""
    if client is None:
        return InMemoryMonJob62()
    from activities.monjob import MonJob62HttpPort

    return MonJob62HttpPort(client)
