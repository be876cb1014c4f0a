"""Seed-002 indicators from the pathway read model (definitions in ``domain/kpi.py``).

Everything is counted from events — entry dates, orientation notifications, the indicator clocks of
``deadlines`` (whose ``due_on`` already carries the days a clock was paused), appointments, CERs, breaches,
stage changes and convocations — never from the stored counters of ``pathways`` (G-B21). The earliest event
dates of each pathway are kept in ``pathway_kpi`` (migration 011: one row per pathway, refreshed by triggers
on the event tables), so each section reads one narrow row per pathway of the period: (a) and the
orientation-delay distribution by entry date, (c) by notification date, (e) by breach; only the sanctions after
a convocation and the CAF route's orientation are looked up in ``stage_changes``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from enum import Enum

import asyncpg

from domain.kpi import ACCOMPANIED_STAGES, DEFAULT_AG_COUNSELLORS, GARANTIE_TARGETS, DelayBucket, KpiFacts
from domain.rules import RULE_SETS, RULESET_2023, RuleSet

# $1 from, $2 to, $3 territory or NULL, $4-$7 the rule sets' durations (a pathway's clocks follow its rule set),
# then the defaults for an unknown rule set ($8-$10 in the cohort query, $8 = appointment days in the AG one).
_RULES = """
rules AS (
    SELECT * FROM unnest($4::text[], $5::int[], $6::int[], $7::int[])
        AS r(version, orientation_months, appointment_days, cer_months)
)"""

# The new-entrant cohort: each pathway's steps, whenever they happened (the first appointment: the earliest one
# fixed, the first-appointment clock's MET day counting as one).
_STEPS = f"""
WITH {_RULES},
steps AS (
    SELECT k.entry_date,
           coalesce(r.orientation_months, $8) AS orientation_months,
           coalesce(r.appointment_days, $9) AS appointment_days,
           coalesce(r.cer_months, $10) AS cer_months,
           k.o_start, k.o_due, k.a_due, k.c_due,
           coalesce(k.orientation_notified_on, k.o_met_on) AS oriented_on,
           least(k.first_appointment_on, k.a_met_on) AS appointment_on,
           k.first_cer_on AS cer_on
    FROM pathway_kpi k LEFT JOIN rules r ON r.version = k.rule_set
    WHERE k.entry_date BETWEEN $1 AND $2 AND ($3::text IS NULL OR k.territory = $3)
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
SELECT delay_days, oriented_in_time,
       count(*) AS new_entrants,
       count(oriented_on) AS oriented,
       count(*) FILTER (WHERE oriented_in_time) AS oriented_within,
       count(appointment_on) AS appointments_set,
       count(*) FILTER (WHERE appointment_in_time) AS appointments_within,
       count(cer_on) AS cers,
       count(*) FILTER (WHERE cer_in_time) AS cers_within
FROM facts
GROUP BY delay_days, oriented_in_time
"""

# The start delay: to the first appointment held or the first CER signed since the orientation, less the days the
# first-appointment clock was paused. $8 = the default appointment days.
_GLOBAL = f"""
WITH {_RULES},
started AS (
    SELECT k.orientation_notified_on AS oriented_on,
           least(k.held_after_orientation, k.cer_after_orientation) AS started_on,
           greatest(0, k.a_due - (k.a_start + coalesce(r.appointment_days, $8))) AS paused_days
    FROM pathway_kpi k LEFT JOIN rules r ON r.version = k.rule_set
    WHERE k.orientation_target = 'POLE_EMPLOI_AG' AND k.orientation_notified_on BETWEEN $1 AND $2
      AND ($3::text IS NULL OR k.territory = $3)
)
SELECT count(*) AS oriented, count(started_on) AS started,
       coalesce(sum(greatest(0, started_on - oriented_on - paused_days)), 0)::bigint AS start_days
FROM started
"""

# $1 from, $2 to, $3 territory or NULL.
_LOST_FROM_VIEW = """
WITH past_deadline AS (
    SELECT k.pathway_id
    FROM pathway_kpi k
    WHERE k.orientation_breached_on <= $2
      AND ($3::text IS NULL OR k.territory = $3)
      AND (k.closed_on IS NULL OR k.closed_on >= $1)
      -- not oriented before the period (the CAF route's orientation is the saisine's acceptance)
      AND (k.orientation_notified_on >= $1
           OR k.orientation_notified_on IS NULL AND NOT EXISTS (
               SELECT 1 FROM stage_changes s
               WHERE s.pathway_id = k.pathway_id AND s.cause = 'CAF_SAISINE_ACCEPTED' AND s.changed_on < $1))
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


# (b), (c) stock, (d), (f): per referent kind and id, the pathways whose referent was designated in the period
# (new entrants of the period apart, for (b)) and those « en cours d'accompagnement » on its last day (the stage
# of their last change by then). $1 from, $2 to, $3 territory or NULL, $4 referent kinds, $5 accompanied stages.
_OFFERS = """
WITH offer AS (
    SELECT p.referent_type, p.referent_structure_id, p.entry_date,
           (SELECT max(s.changed_on) FROM stage_changes s
            WHERE s.pathway_id = p.pathway_id AND s.to_stage = 'REFERENT_DESIGNATED' AND s.changed_on <= $2
              AND s.from_stage IS DISTINCT FROM s.to_stage) AS designated_on,
           (SELECT s.to_stage FROM stage_changes s
            WHERE s.pathway_id = p.pathway_id AND s.changed_on <= $2
            ORDER BY s.changed_on DESC, s.seq DESC LIMIT 1) AS stage_at_end
    FROM pathways p
    WHERE p.referent_type = ANY($4::text[]) AND ($3::text IS NULL OR p.territory = $3)
)
SELECT referent_type, referent_structure_id,
       count(*) FILTER (WHERE designated_on >= $1) AS oriented,
       count(*) FILTER (WHERE designated_on >= $1 AND entry_date BETWEEN $1 AND $2) AS oriented_new,
       count(*) FILTER (WHERE stage_at_end = ANY($5::text[])) AS in_progress
FROM offer
GROUP BY referent_type, referent_structure_id
"""


def _add_offers(facts: KpiFacts, rows) -> None:
    """(b), (c) stock, (d), (f) from the per-referent rows of ``_OFFERS``."""
    for row in rows:
        kind, oriented, in_progress = row["referent_type"], row["oriented"], row["in_progress"]
        if kind in GARANTIE_TARGETS:
            facts.garantie_oriented += row["oriented_new"]
            facts.garantie_in_progress += in_progress
        if kind == "REFERENT_SOCIOPRO":
            facts.socio_pro_oriented += oriented
            facts.socio_pro_in_progress += in_progress
        elif kind == "PLIE":
            facts.plie_oriented += oriented
            facts.plie_in_progress += in_progress
        elif kind == "POLE_EMPLOI_AG":
            facts.global_accompaniment_in_progress += in_progress
            if in_progress:
                facts.global_by_counsellor[row["referent_structure_id"] or ""] = in_progress


def _rule_arguments(rule_sets: tuple[RuleSet, ...], default: RuleSet) -> tuple:
    return (
        [r.version for r in rule_sets], [r.orientation_months for r in rule_sets],
        [r.first_appointment_days for r in rule_sets], [r.first_cer_months for r in rule_sets],
        default.orientation_months, default.first_appointment_days, default.first_cer_months,
    )


class Plan(str, Enum):
    AUTO = "auto"  # the planner's choice: the indexes for a small period or territory, one pass for most of the table
    INDEX = "index"  # through the indexes only
    SCAN = "scan"  # sequential passes only


#: Planner settings turned off for the report's transaction, to force a plan.
_PLAN_OFF = {Plan.AUTO: (), Plan.INDEX: ("enable_seqscan",), Plan.SCAN: ("enable_indexscan", "enable_bitmapscan")}


class KpiReadModel:
    """Reads the indicators' facts; ``db`` is an asyncpg pool or connection (injected).

    The three queries run in one read-only repeatable-read transaction, so they count one snapshot.
    """

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection, rule_sets: tuple[RuleSet, ...] = RULE_SETS,
                 default_rules: RuleSet = RULESET_2023, plan: Plan = Plan.AUTO, work_mem: str = "64MB",
                 ag_counsellors: int = DEFAULT_AG_COUNSELLORS, exclude_adopted: bool = False) -> None:
        """``exclude_adopted``: leave out the pathways adopted from a caseload after their entry (their migrated
        period; view ``pathway_kpi_native``, issue 19) from the cohort, accompagnement-global and perdus-de-vue
        counts."""
        self.db = db
        self.kpi_table = "pathway_kpi_native" if exclude_adopted else "pathway_kpi"
        self.ag_counsellors = ag_counsellors
        self.rules = _rule_arguments(rule_sets, default_rules)
        self.plan = plan
        self.work_mem = work_mem

    async def facts(self, period_from: date, period_to: date, territory: str | None = None) -> KpiFacts:
        if period_to < period_from:
            raise ValueError("the period ends before it starts")
        async with _connection(self.db) as conn, _snapshot(conn):
            # A plan for the period at hand: asyncpg prepares each query, and after five runs PostgreSQL may keep a
            # generic plan that reads a whole table through an index, or scans it for one month.
            settings = [f"work_mem = '{_checked_size(self.work_mem)}'", "plan_cache_mode = force_custom_plan",
                        *(f"{name} = off" for name in _PLAN_OFF[self.plan])]
            await conn.execute("; ".join(f"SET LOCAL {setting}" for setting in settings))
            return await self._facts(conn, (period_from, period_to, territory))

    async def _facts(self, conn: asyncpg.Connection, args: tuple) -> KpiFacts:
        facts = KpiFacts()
        # one row per (delay, within the month) group: the cohort's counts are their sums
        def q(query: str) -> str:
            return query.replace("FROM pathway_kpi k", f"FROM {self.kpi_table} k")

        for row in await conn.fetch(q(_STEPS + _FACTS), *args, *self.rules):
            if row["delay_days"] is not None:
                _add_bucket(facts, row["delay_days"], bool(row["oriented_in_time"]), row["new_entrants"])
            facts.new_entrants += row["new_entrants"]
            facts.oriented += row["oriented"]
            facts.oriented_within_1_month += row["oriented_within"]
            facts.first_appointments_set += row["appointments_set"]
            facts.first_appointments_within_2_weeks += row["appointments_within"]
            facts.first_cers += row["cers"]
            facts.first_cers_within_2_months += row["cers_within"]
        ag = await conn.fetchrow(q(_GLOBAL), *args, *self.rules[:4], self.rules[5])
        facts.global_accompaniment_oriented = ag["oriented"]
        facts.global_accompaniment_started = ag["started"]
        facts.global_accompaniment_start_days = ag["start_days"]
        lost = await conn.fetchrow(q(_LOST_FROM_VIEW), *args)
        facts.lost_from_view = lost["lost_from_view"]
        facts.lost_from_view_convoked = lost["convoked"]
        facts.lost_from_view_sanctioned = lost["sanctioned"]
        kinds = [*GARANTIE_TARGETS, "PLIE", "POLE_EMPLOI_AG"]
        _add_offers(facts, await conn.fetch(_OFFERS, *args, kinds, list(ACCOMPANIED_STAGES)))
        facts.global_counsellors = self.ag_counsellors
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
