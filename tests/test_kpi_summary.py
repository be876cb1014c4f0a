"""``pathway_kpi`` (migration 011) against a straightforward recomputation, on a few hundred random pathways.

The rows are written the ways the read model is written — one statement per row, COPY, children before their
pathway, clocks moved by pauses, orientations corrected, pathways purged — and then (1) the table the triggers
keep equals its definition recomputed from the event tables, (2) the report's facts equal a count made here in
Python, straight from the event rows and the definitions of ``domain/kpi.py``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

import asyncpg
import pytest
import pytest_asyncio

from activities.kpi import KpiReadModel, Plan, _add_bucket
from domain.deadlines import add_months
from domain.kpi import KpiFacts
from domain.rules import RULESET_2023
from kpi_rows import create_schema

TERRITORIES = ("Arrageois", "Calaisis", "Ternois")
RULE_SETS = (RULESET_2023, RULESET_2023.model_copy(update={
    "version": "slow", "orientation_months": 2, "first_appointment_days": 21, "first_cer_months": 3}))
DEFAULT_RULES = RULESET_2023.model_copy(update={"version": "default", "first_appointment_days": 10,
                                                "first_cer_months": 1})
PERIODS = [
    (date(2022, 1, 1), date(2023, 12, 31), None),
    (date(2022, 1, 1), date(2022, 12, 31), None),
    (date(2022, 3, 1), date(2022, 3, 31), None),
    (date(2022, 1, 1), date(2023, 6, 30), "Calaisis"),
    (date(2023, 2, 1), date(2023, 2, 28), "Arrageois"),
]
START = date(2022, 1, 1)
#: Every date is one of these: the periods' first and last days, their neighbours and a few others, so that many
#: dates are equal and every comparison meets its boundary.
DAYS = sorted({bound + timedelta(days=shift) for start, end, _ in PERIODS for bound in (start, end)
               for shift in (-1, 0, 1)} | {START + timedelta(days=n) for n in range(0, 730, 61)})


def _day(rng: random.Random) -> date:
    return rng.choice(DAYS)


def _later(rng: random.Random, on: date, most: int = 90) -> date:
    """A day from ``on`` to ``on + most`` days."""
    return rng.choice([d for d in DAYS if on <= d <= on + timedelta(days=most)] or [on])


def generate(rng: random.Random, count: int) -> dict[str, list[tuple]]:
    """Event rows of ``count`` pathways; a few pathways have several clocks of a kind, or none."""
    rows: dict[str, list[tuple]] = defaultdict(list)
    for n in range(count):
        pid = f"pathway-{n:04d}"
        entry = _day(rng) if rng.random() < 0.95 else None
        base = entry or START
        notified = _later(rng, base, 70) if rng.random() < 0.6 else None
        target = None if notified is None else rng.choice(["PLATFORM", "POLE_EMPLOI_AG", "SOCIO_PRO"])
        closed = _day(rng) if rng.random() < 0.3 else None
        rows["pathways"].append((pid, f"person-{n}", rng.choice(TERRITORIES), rng.choice(["2023.1", "slow", "old"]),
                                 "AWAITING_ORIENTATION", entry, target, notified, closed, 1))
        for kind in ("ORIENTATION", "FIRST_APPOINTMENT", "FIRST_CER"):
            for k in range(rng.choice([0, 1, 1, 1, 1, 2])):
                started = _later(rng, base, 40)
                status = rng.choice(["PENDING", "PAUSED", "MET", "BREACHED"])
                closed_on = _later(rng, started, 60) if status in ("MET", "BREACHED") else None
                rows["deadlines"].append((pid, f"{kind.lower()}-{k}", kind, started, _later(rng, started, 75),
                                          status, closed_on, "SLAI", 1))
        for k in range(rng.choice([0, 0, 1, 2, 3])):
            on = _later(rng, base, 120)
            rows["pathway_appointments"].append((pid, f"a-{k}", rng.choice(["SCHEDULED", "HELD", "MISSED"]), on,
                                                 _later(rng, base, 30)))
        for k in range(rng.choice([0, 1, 1, 2])):
            signed = _later(rng, base, 150)
            rows["pathway_cers"].append((pid, f"cer-{k}", "SOLIDARITE", signed, signed + timedelta(days=180), signed,
                                         rng.random() < 0.3, 1, "PLATFORM", "pf-1", 0, 1))
        for k in range(rng.choice([0, 0, 1, 2])):
            breached = _later(rng, base, 200)
            rows["breaches"].append((pid, f"b-{k}", rng.choice(["ORIENTATION", "ORIENTATION", "FIRST_CER"]),
                                     breached - timedelta(days=1), breached, "SLAI"))
        for k in range(rng.choice([0, 1, 2])):
            to_stage, cause = rng.choice([("REFERENT_DESIGNATED", "CAF_SAISINE_ACCEPTED")] * 3 + [
                                          ("SANCTION_PROCEDURE", "EP_SANCTION_PROCEDURE"),
                                          ("CLOSED", "EXIT_NON_RESPECT_OBLIGATIONS"), ("CER_ACTIVE", "CER_SIGNED")])
            rows["stage_changes"].append((pid, k + 1, None, to_stage, _day(rng), cause))
        if rng.random() < 0.3:
            rows["lost_from_view_convocations"].append(
                (pid, "conv-1", _day(rng), rng.choice(["ATTENDED", "MISSED", "EXCUSED", None]), 1))
    return rows


COLUMNS = {
    "pathways": ["pathway_id", "person_id", "territory", "rule_set", "stage", "entry_date", "orientation_target",
                 "orientation_notified_on", "closed_on", "version"],
    "deadlines": ["pathway_id", "deadline_id", "kind", "started_on", "due_on", "status", "closed_on", "responsible",
                  "version"],
    "pathway_appointments": ["pathway_id", "event_id", "kind", "appointment_date", "recorded_on"],
    "pathway_cers": ["pathway_id", "cer_id", "cer_type", "start_on", "end_on", "signed_on", "renewal", "action_count",
                     "referent_type", "structure_id", "physical_appointments", "version"],
    "breaches": ["pathway_id", "deadline_id", "kind", "due_on", "breached_on", "responsible"],
    "stage_changes": ["pathway_id", "seq", "from_stage", "to_stage", "changed_on", "cause"],
    "lost_from_view_convocations": ["pathway_id", "convocation_id", "convoked_on", "outcome", "version"],
}


async def write(conn: asyncpg.Connection, rng: random.Random, rows: dict[str, list[tuple]]) -> None:
    """Half the pathways by COPY (children first), the other half one statement per row in a random order."""
    bulk = {f"pathway-{n:04d}" for n in range(0, len(rows["pathways"]), 2)}
    for table in reversed(list(COLUMNS)):
        records = [r for r in rows[table] if r[0] in bulk]
        if records:
            await conn.copy_records_to_table(table, records=records, columns=COLUMNS[table])
    single = [(table, r) for table in COLUMNS for r in rows[table] if r[0] not in bulk]
    rng.shuffle(single)
    for table, record in single:
        columns = COLUMNS[table]
        await conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) "
                           f"VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})", *record)


async def rewrite(conn: asyncpg.Connection, rng: random.Random, count: int) -> None:
    """What happens to rows later: pauses move clocks, clocks close, orientations are corrected, rows go."""
    ids = [f"pathway-{n:04d}" for n in range(count)]
    for pid in rng.sample(ids, count // 4):
        await conn.execute(
            """UPDATE deadlines SET due_on = due_on + $2::int, status = 'MET', closed_on = started_on + $3::int
               WHERE pathway_id = $1
                 AND deadline_id = (SELECT min(deadline_id) FROM deadlines WHERE pathway_id = $1)""",
            pid, rng.randrange(1, 30), rng.randrange(0, 60))
    for pid in rng.sample(ids, count // 5):
        notified = _day(rng) if rng.random() < 0.8 else None
        await conn.execute(
            """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, orientation_target,
                   orientation_notified_on, version)
               VALUES ($1, 'p', $2, '2023.1', 'ORIENTED_TO_PLATFORM', 'POLE_EMPLOI_AG', $3, 2)
               ON CONFLICT (pathway_id) DO UPDATE SET territory = EXCLUDED.territory,
                   orientation_target = EXCLUDED.orientation_target,
                   orientation_notified_on = EXCLUDED.orientation_notified_on, version = EXCLUDED.version
               WHERE pathways.version < EXCLUDED.version""",
            pid, rng.choice(TERRITORIES), notified)
    await conn.execute("UPDATE pathways SET stage = 'CER_ACTIVE', version = version + 1 "
                       "WHERE pathway_id < 'pathway-0050'")
    for table in ("pathway_appointments", "pathway_cers", "breaches", "deadlines"):
        await conn.execute(f"DELETE FROM {table} WHERE pathway_id = ANY($1::text[])", rng.sample(ids, count // 10))
    for pid in rng.sample(ids, count // 10):  # purged as activities/retention.py does: the pathway row first
        async with conn.transaction():
            await conn.execute("DELETE FROM pathways WHERE pathway_id = $1", pid)
            for table in ("stage_changes", "deadlines", "breaches", "pathway_cers", "pathway_appointments",
                          "lost_from_view_convocations"):
                await conn.execute(f"DELETE FROM {table} WHERE pathway_id = $1", pid)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def conn(db_pool, database_url):
    schema = await create_schema(db_pool)
    connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    rng = random.Random(2026)
    await write(connection, rng, generate(rng, 600))
    await rewrite(connection, rng, 600)
    try:
        yield connection
    finally:
        await connection.close()
        await db_pool.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_the_triggers_keep_the_summary_equal_to_its_definition(conn):
    kept = await conn.fetch("SELECT * FROM pathway_kpi ORDER BY pathway_id")
    recomputed = await conn.fetch("SELECT * FROM pathway_kpi_source ORDER BY pathway_id")
    assert len(kept) == await conn.fetchval("SELECT count(*) FROM pathways") == 540
    assert [tuple(r) for r in kept] == [tuple(r) for r in recomputed]


async def test_the_summary_follows_a_truncated_event_table(conn):
    assert await conn.fetchval("SELECT count(*) FROM pathway_kpi WHERE first_cer_on IS NOT NULL") > 0
    with pytest.raises(_Rollback):
        async with conn.transaction():
            await conn.execute("TRUNCATE pathway_cers")
            assert await conn.fetchval("SELECT count(*) FROM pathway_kpi WHERE first_cer_on IS NOT NULL") == 0
            await conn.execute("TRUNCATE pathways")
            assert await conn.fetchval("SELECT count(*) FROM pathway_kpi") == 0
            raise _Rollback


class _Rollback(Exception):
    pass


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: "-".join(str(x) for x in p))
@pytest.mark.parametrize("plan", list(Plan), ids=lambda p: p.value)
async def test_facts_equal_a_count_from_the_event_rows(conn, period, plan):
    model = KpiReadModel(conn, rule_sets=RULE_SETS, default_rules=DEFAULT_RULES, plan=plan)
    assert await model.facts(*period) == await expected_facts(conn, *period)


async def test_the_random_rows_reach_every_count(conn):
    """The comparison above is not between two empty reports."""
    facts = await expected_facts(conn, *PERIODS[0])
    offers = {"garantie_oriented", "garantie_in_progress", "global_accompaniment_in_progress", "global_counsellors",
              "global_by_counsellor", "socio_pro_oriented", "socio_pro_in_progress", "plie_oriented",
              "plie_in_progress"}  # (b), (d), (f) and the AG stock read pathways, not pathway_kpi: test_kpi_offers.py
    assert all(value > 0 for value in facts.model_dump(exclude={"orientation_delays", *offers}).values())
    assert sum(b.within for b in facts.orientation_delays) > 0 and sum(b.late for b in facts.orientation_delays) > 0


async def expected_facts(conn: asyncpg.Connection, period_from: date, period_to: date,
                         territory: str | None) -> KpiFacts:
    """domain/kpi.py's definitions applied to the event rows, one pathway at a time."""
    events: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for table in ("deadlines", "pathway_appointments", "pathway_cers", "breaches", "stage_changes",
                  "lost_from_view_convocations"):
        for row in await conn.fetch(f"SELECT * FROM {table}"):
            events[row["pathway_id"]][table].append(row)
    pathways = {r["pathway_id"]: r for r in await conn.fetch("SELECT * FROM pathways")}
    rules = {r.version: r for r in RULE_SETS}
    facts = KpiFacts()
    buckets: dict[tuple[int, bool], int] = defaultdict(int)

    def first(values) -> date | None:
        return min((v for v in values if v is not None), default=None)

    def clock(pid: str, kind: str, column: str, met: bool = False) -> date | None:
        return first(d[column] for d in events[pid]["deadlines"]
                     if d["kind"] == kind and (not met or d["status"] == "MET"))

    for pid, p in pathways.items():
        rule = rules.get(p["rule_set"], DEFAULT_RULES)
        if territory is not None and p["territory"] != territory:
            continue
        entry = p["entry_date"]
        if entry is not None and period_from <= entry <= period_to:  # (a) the new-entrant cohort
            facts.new_entrants += 1
            o_start, o_due = clock(pid, "ORIENTATION", "started_on"), clock(pid, "ORIENTATION", "due_on")
            oriented = p["orientation_notified_on"] or clock(pid, "ORIENTATION", "closed_on", met=True)
            if oriented is not None:
                facts.oriented += 1
                within = oriented <= (o_due or add_months(entry, rule.orientation_months))
                facts.oriented_within_1_month += within
                paused = (o_due - add_months(o_start, rule.orientation_months)).days if o_due and o_start else 0
                buckets[((oriented - entry).days - max(0, paused), within)] += 1
            appointment = first([clock(pid, "FIRST_APPOINTMENT", "closed_on", met=True),
                                 *(a["appointment_date"] for a in events[pid]["pathway_appointments"]
                                   if a["kind"] in ("SCHEDULED", "HELD"))])
            if appointment is not None:
                facts.first_appointments_set += 1
                last = clock(pid, "FIRST_APPOINTMENT", "due_on") or (
                    oriented + timedelta(days=rule.first_appointment_days) if oriented else None)
                facts.first_appointments_within_2_weeks += last is not None and appointment <= last
            cer = first(c["signed_on"] for c in events[pid]["pathway_cers"] if not c["renewal"])
            if cer is not None:
                facts.first_cers += 1
                last = clock(pid, "FIRST_CER", "due_on") or (
                    add_months(oriented, rule.first_cer_months) if oriented else None)
                facts.first_cers_within_2_months += last is not None and cer <= last
        notified = p["orientation_notified_on"]
        if p["orientation_target"] == "POLE_EMPLOI_AG" and notified and period_from <= notified <= period_to:  # (c)
            facts.global_accompaniment_oriented += 1
            started = first([*(a["appointment_date"] for a in events[pid]["pathway_appointments"]
                               if a["kind"] == "HELD" and a["appointment_date"] >= notified),
                             *(c["signed_on"] for c in events[pid]["pathway_cers"] if c["signed_on"] >= notified)])
            if started is not None:
                a_start = clock(pid, "FIRST_APPOINTMENT", "started_on")
                a_due = clock(pid, "FIRST_APPOINTMENT", "due_on")
                paused = max(0, (a_due - a_start).days - rule.first_appointment_days) if a_due else 0
                facts.global_accompaniment_started += 1
                facts.global_accompaniment_start_days += max(0, (started - notified).days - paused)

    lost, convoked, sanctioned = set(), set(), set()  # (e)
    for pid, p in pathways.items():
        if territory is not None and p["territory"] != territory:
            continue
        changes = events[pid]["stage_changes"]
        breached = any(b["kind"] == "ORIENTATION" and b["breached_on"] <= period_to for b in events[pid]["breaches"])
        open_in_period = p["closed_on"] is None or p["closed_on"] >= period_from
        caf_oriented_before = any(s["cause"] == "CAF_SAISINE_ACCEPTED" and s["changed_on"] < period_from
                                  for s in changes)
        not_oriented_before = (p["orientation_notified_on"] >= period_from if p["orientation_notified_on"]
                               else not caf_oriented_before)
        if breached and open_in_period and not_oriented_before:
            lost.add(pid)
        for c in events[pid]["lost_from_view_convocations"]:
            if period_from <= c["convoked_on"] <= period_to:
                lost.add(pid)
                convoked.add(pid)
                if c["outcome"] not in ("ATTENDED", "EXCUSED") and any(
                        s["changed_on"] >= c["convoked_on"]
                        and (s["to_stage"] == "SANCTION_PROCEDURE" or s["cause"] == "EXIT_NON_RESPECT_OBLIGATIONS")
                        for s in changes):
                    sanctioned.add(pid)
    facts.lost_from_view, facts.lost_from_view_convoked, facts.lost_from_view_sanctioned = (
        len(lost), len(convoked), len(sanctioned))
    for (days, within), count in sorted(buckets.items()):
        _add_bucket(facts, days, within, count)
    return facts
