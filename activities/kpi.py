"""Seed-002 indicators from the pathway read model (definitions in ``domain/kpi.py``).

Everything is counted from events — entry dates, orientation notifications, the indicator clocks of
``deadlines`` (whose ``due_on`` already carries the days a clock was paused), appointments, CERs, breaches,
stage changes and convocations — never from the stored counters of ``pathways`` (G-B21). One query over the
new-entrant cohort gives section (a) and the orientation-delay distribution — through the indexes of migration
009 for a cohort that is a small part of the table, in one hash pass when it is most of it; (c) and (e) read
small subsets through the indexes.

Each pathway opens one ORIENTATION, one FIRST_APPOINTMENT and one FIRST_CER clock (``domain/pathway_rules.py``:
``_start_orientation_clock`` and ``orient``); should there be more, the earliest due day is used.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from enum import Enum

import asyncpg

from domain.kpi import DelayBucket, KpiFacts
from domain.rules import RULE_SETS, RULESET_2023, RuleSet

# $1 from, $2 to, $3 territory or NULL, $4-$7 the rule sets' durations (a pathway's clocks follow its rule set),
# then the defaults for an unknown rule set ($8-$10 in the cohort query, $8 = appointment days in the AG one).
_RULES = """
rules AS (
    SELECT * FROM unnest($4::text[], $5::int[], $6::int[], $7::int[])
        AS r(version, orientation_months, appointment_days, cer_months)
)"""

# The three indicator clocks of a pathway; ``due_on`` already holds the days the clock was paused.
_CLOCKS = """
        SELECT min(d.started_on) FILTER (WHERE d.kind = 'ORIENTATION') AS o_start,
               min(d.due_on) FILTER (WHERE d.kind = 'ORIENTATION') AS o_due,
               min(d.closed_on) FILTER (WHERE d.kind = 'ORIENTATION' AND d.status = 'MET') AS o_met_on,
               min(d.due_on) FILTER (WHERE d.kind = 'FIRST_APPOINTMENT') AS a_due,
               min(d.closed_on) FILTER (WHERE d.kind = 'FIRST_APPOINTMENT' AND d.status = 'MET') AS a_met_on,
               min(d.due_on) FILTER (WHERE d.kind = 'FIRST_CER') AS c_due
        FROM deadlines d"""
_CLOCK_KINDS = "d.kind IN ('ORIENTATION', 'FIRST_APPOINTMENT', 'FIRST_CER')"

# Per-pathway steps of the new-entrant cohort, two equivalent plans: a small cohort (a month, a territory) looks
# each pathway's rows up through the indexes; a cohort that is most of the table is cheaper in one hash pass.
_STEPS_BY_INDEX = f"""
WITH {_RULES},
steps AS (
    SELECT p.entry_date,
           coalesce(r.orientation_months, $8) AS orientation_months,
           coalesce(r.appointment_days, $9) AS appointment_days,
           coalesce(r.cer_months, $10) AS cer_months,
           k.o_start, k.o_due, k.a_due, k.c_due,
           coalesce(p.orientation_notified_on, k.o_met_on) AS oriented_on,
           coalesce(k.a_met_on, a.first_on) AS appointment_on,
           f.first_on AS cer_on
    FROM pathways p
    LEFT JOIN rules r ON r.version = p.rule_set
    LEFT JOIN LATERAL ({_CLOCKS} WHERE d.pathway_id = p.pathway_id AND {_CLOCK_KINDS}) k ON true
    -- an appointment met within its clock decides both appointment counts: the rows are read only without one
    LEFT JOIN LATERAL (
        SELECT min(a.appointment_date) AS first_on FROM pathway_appointments a
        WHERE k.a_met_on IS NULL AND a.pathway_id = p.pathway_id AND a.kind IN ('SCHEDULED', 'HELD')
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT min(c.signed_on) AS first_on FROM pathway_cers c WHERE c.pathway_id = p.pathway_id AND NOT c.renewal
    ) f ON true
    WHERE p.entry_date BETWEEN $1 AND $2 AND ($3::text IS NULL OR p.territory = $3)
),"""

_STEPS_BY_SCAN = f"""
WITH {_RULES},
cohort AS (
    SELECT p.pathway_id, p.entry_date, p.orientation_notified_on,
           coalesce(r.orientation_months, $8) AS orientation_months,
           coalesce(r.appointment_days, $9) AS appointment_days,
           coalesce(r.cer_months, $10) AS cer_months
    FROM pathways p LEFT JOIN rules r ON r.version = p.rule_set
    WHERE p.entry_date BETWEEN $1 AND $2 AND ($3::text IS NULL OR p.territory = $3)
),
clocks AS ({_CLOCKS.replace("SELECT ", "SELECT d.pathway_id, ", 1)}
    WHERE {_CLOCK_KINDS} AND d.pathway_id IN (SELECT pathway_id FROM cohort)
    GROUP BY d.pathway_id
),
appointments AS (
    SELECT a.pathway_id, min(a.appointment_date) AS first_on
    FROM pathway_appointments a
    WHERE a.kind IN ('SCHEDULED', 'HELD') AND a.pathway_id IN (SELECT pathway_id FROM cohort)
    GROUP BY a.pathway_id
),
cers AS (
    SELECT c.pathway_id, min(c.signed_on) AS first_on
    FROM pathway_cers c
    WHERE NOT c.renewal AND c.pathway_id IN (SELECT pathway_id FROM cohort)
    GROUP BY c.pathway_id
),
steps AS (
    SELECT c.entry_date, c.orientation_months, c.appointment_days, c.cer_months, k.o_start, k.o_due, k.a_due,
           k.c_due,
           coalesce(c.orientation_notified_on, k.o_met_on) AS oriented_on,
           least(a.first_on, k.a_met_on) AS appointment_on,
           f.first_on AS cer_on
    FROM cohort c
    LEFT JOIN clocks k USING (pathway_id)
    LEFT JOIN appointments a USING (pathway_id)
    LEFT JOIN cers f USING (pathway_id)
),"""

# Section (a) and the delay distribution from the steps: each clock's last day is its ``due_on`` (pauses
# included) or, without a clock row, the nominal one (PostgreSQL's month arithmetic clamps like add_months).
_FACTS = """
facts AS (
    SELECT oriented_on,
           oriented_on <= coalesce(o_due, (entry_date + make_interval(months => orientation_months))::date)
               AS oriented_in_time,
           oriented_on - entry_date
               - greatest(0, coalesce(o_due - (o_start + make_interval(months => orientation_months))::date, 0))
               AS delay_days,
           appointment_on,
           appointment_on <= coalesce(a_due, oriented_on + appointment_days) AS appointment_in_time,
           cer_on,
           cer_on <= coalesce(c_due, (oriented_on + make_interval(months => cer_months))::date) AS cer_in_time
    FROM steps
)
SELECT grouping(delay_days, oriented_in_time) = 0 AS bucket, delay_days, oriented_in_time,
       count(*) AS new_entrants,
       count(oriented_on) AS oriented,
       count(*) FILTER (WHERE oriented_in_time) AS oriented_within,
       count(appointment_on) AS appointments_set,
       count(*) FILTER (WHERE appointment_in_time) AS appointments_within,
       count(cer_on) AS cers,
       count(*) FILTER (WHERE cer_in_time) AS cers_within
FROM facts
GROUP BY GROUPING SETS ((), (delay_days, oriented_in_time))
"""

_GLOBAL = f"""
WITH {_RULES},
oriented AS (
    SELECT p.pathway_id, p.orientation_notified_on AS oriented_on, coalesce(r.appointment_days, $8) AS appointment_days
    FROM pathways p LEFT JOIN rules r ON r.version = p.rule_set
    WHERE p.orientation_target = 'POLE_EMPLOI_AG' AND p.orientation_notified_on BETWEEN $1 AND $2
      AND ($3::text IS NULL OR p.territory = $3)
),
started AS (
    SELECT o.oriented_on,
           least((SELECT min(a.appointment_date) FROM pathway_appointments a
                  WHERE a.pathway_id = o.pathway_id AND a.kind = 'HELD' AND a.appointment_date >= o.oriented_on),
                 (SELECT min(c.signed_on) FROM pathway_cers c
                  WHERE c.pathway_id = o.pathway_id AND c.signed_on >= o.oriented_on)) AS started_on,
           coalesce((SELECT greatest(0, min(d.due_on) - (min(d.started_on) + o.appointment_days)) FROM deadlines d
                     WHERE d.pathway_id = o.pathway_id AND d.kind = 'FIRST_APPOINTMENT'), 0) AS paused_days
    FROM oriented o
)
SELECT count(*) AS oriented, count(started_on) AS started,
       coalesce(sum(greatest(0, started_on - oriented_on - paused_days)), 0)::bigint AS start_days
FROM started
"""

# $1 from, $2 to, $3 territory or NULL.
_LOST_FROM_VIEW = """
WITH past_deadline AS (
    SELECT b.pathway_id
    FROM breaches b JOIN pathways p USING (pathway_id)
    WHERE b.kind = 'ORIENTATION' AND b.breached_on <= $2
      AND ($3::text IS NULL OR p.territory = $3)
      AND (p.closed_on IS NULL OR p.closed_on >= $1)
      -- not oriented before the period (the CAF route's orientation is the saisine's acceptance)
      AND (p.orientation_notified_on >= $1
           OR p.orientation_notified_on IS NULL AND NOT EXISTS (
               SELECT 1 FROM stage_changes s
               WHERE s.pathway_id = b.pathway_id AND s.cause = 'CAF_SAISINE_ACCEPTED' AND s.changed_on < $1))
),
convocations AS (
    SELECT c.pathway_id, c.convoked_on, coalesce(c.outcome, 'MISSED') NOT IN ('ATTENDED', 'EXCUSED') AS absent
    FROM lost_from_view_convocations c JOIN pathways p USING (pathway_id)
    WHERE c.convoked_on BETWEEN $1 AND $2 AND ($3::text IS NULL OR p.territory = $3)
),
sanctioned AS (
    SELECT DISTINCT c.pathway_id
    FROM convocations c
    WHERE c.absent AND EXISTS (
        SELECT 1 FROM stage_changes s
        WHERE s.pathway_id = c.pathway_id AND s.changed_on >= c.convoked_on
          AND (s.to_stage = 'SANCTION_PROCEDURE' OR s.cause = 'EXIT_NON_RESPECT_OBLIGATIONS'))
)
SELECT (SELECT count(*) FROM (SELECT pathway_id FROM past_deadline
                              UNION SELECT pathway_id FROM convocations) AS lost) AS lost_from_view,
       (SELECT count(DISTINCT pathway_id) FROM convocations) AS convoked,
       (SELECT count(*) FROM sanctioned) AS sanctioned
"""


def _rule_arguments(rule_sets: tuple[RuleSet, ...], default: RuleSet) -> tuple:
    return (
        [r.version for r in rule_sets], [r.orientation_months for r in rule_sets],
        [r.first_appointment_days for r in rule_sets], [r.first_cer_months for r in rule_sets],
        default.orientation_months, default.first_appointment_days, default.first_cer_months,
    )


class Plan(str, Enum):
    AUTO = "auto"
    INDEX = "index"  # look each cohort pathway's rows up through the indexes
    SCAN = "scan"  # one hash pass over the indicator rows


#: Share of all pathways above which one hash pass beats index look-ups (measured by bench/kpi_bench.py).
SCAN_ABOVE_SHARE = 0.4


class KpiReadModel:
    """Reads the indicators' facts; ``db`` is an asyncpg pool or connection (injected).

    The three queries run in one read-only repeatable-read transaction, so they count one snapshot.
    """

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection, rule_sets: tuple[RuleSet, ...] = RULE_SETS,
                 default_rules: RuleSet = RULESET_2023, plan: Plan = Plan.AUTO, work_mem: str = "64MB") -> None:
        self.db = db
        self.rules = _rule_arguments(rule_sets, default_rules)
        self.plan = plan
        self.work_mem = work_mem

    async def facts(self, period_from: date, period_to: date, territory: str | None = None) -> KpiFacts:
        if period_to < period_from:
            raise ValueError("the period ends before it starts")
        async with _connection(self.db) as conn, _snapshot(conn):
            await conn.execute(f"SET LOCAL work_mem = '{_checked_size(self.work_mem)}'")
            return await self._facts(conn, (period_from, period_to, territory))

    async def choose_plan(self, conn: asyncpg.Connection, args: tuple) -> Plan:
        if self.plan is not Plan.AUTO:
            return self.plan
        cohort = await conn.fetchval(
            "SELECT count(*) FROM pathways p WHERE p.entry_date BETWEEN $1 AND $2 AND ($3::text IS NULL OR p.territory = $3)",
            *args)
        total = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'pathways'::regclass")
        return Plan.SCAN if total > 0 and cohort > SCAN_ABOVE_SHARE * total else Plan.INDEX

    async def _facts(self, conn: asyncpg.Connection, args: tuple) -> KpiFacts:
        facts = KpiFacts()
        steps = _STEPS_BY_SCAN if await self.choose_plan(conn, args) is Plan.SCAN else _STEPS_BY_INDEX
        for row in await conn.fetch(steps + _FACTS, *args, *self.rules):
            if row["bucket"]:
                if row["delay_days"] is not None:
                    _add_bucket(facts, row["delay_days"], bool(row["oriented_in_time"]), row["new_entrants"])
                continue
            facts.new_entrants = row["new_entrants"]
            facts.oriented = row["oriented"]
            facts.oriented_within_1_month = row["oriented_within"]
            facts.first_appointments_set = row["appointments_set"]
            facts.first_appointments_within_2_weeks = row["appointments_within"]
            facts.first_cers = row["cers"]
            facts.first_cers_within_2_months = row["cers_within"]
        ag = await conn.fetchrow(_GLOBAL, *args, *self.rules[:4], self.rules[5])
        facts.global_accompaniment_oriented = ag["oriented"]
        facts.global_accompaniment_started = ag["started"]
        facts.global_accompaniment_start_days = ag["start_days"]
        lost = await conn.fetchrow(_LOST_FROM_VIEW, *args)
        facts.lost_from_view = lost["lost_from_view"]
        facts.lost_from_view_convoked = lost["convoked"]
        facts.lost_from_view_sanctioned = lost["sanctioned"]
        facts.orientation_delays.sort(key=lambda b: b.days)
        return facts


@asynccontextmanager
async def _connection(db: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


def _snapshot(conn: asyncpg.Connection):
    """A read-only repeatable-read transaction, or a savepoint inside the caller's own transaction."""
    if conn.is_in_transaction():
        return conn.transaction()
    return conn.transaction(isolation="repeatable_read", readonly=True)


def _checked_size(value: str) -> str:
    if not re.fullmatch(r"\d+(kB|MB|GB)", value):
        raise ValueError(f"work_mem must look like 64MB, got {value!r}")
    return value


def _add_bucket(facts: KpiFacts, days: int, within: bool, count: int) -> None:
    bucket = next((b for b in facts.orientation_delays if b.days == days), None)
    if bucket is None:
        bucket = DelayBucket(days=days)
        facts.orientation_delays.append(bucket)
    if within:
        bucket.within += count
    else:
        bucket.late += count
