"""`parcours report kpi` on a large generated read model (not a test): seconds at 100k and 1M pathways.

    .venv/bin/python -m bench.kpi_bench [--sizes 100000 1000000] [--seed 7] [--shared-buffers 1GB] [--keep DIR]

A throw-away embedded PostgreSQL gets the real migrations, then pathways entered over ten years (2013–2022)
with the rows the pathway activities write for them (clocks, breaches, appointments, CERs, stage changes,
convocations), by COPY: the triggers of migration 011 keep ``pathway_kpi`` as they go, then VACUUM ANALYZE
(what autovacuum does after such a load). At 1M pathways a year is 100k new entrants, 15 times the
Pas-de-Calais volume (~6 500 a year, domain.md §5.4). Each size is reached by adding pathways to the same
database; then, warm, best of 3: the 2022 report (target: under 2 s at 1M), one month, one territory for 2022,
and the whole table as one cohort (the worst case, same target). The end-to-end command (Python start-up
included) is timed for the 2022 report and for the whole table, best of 3. Last, the price of the triggers on
the write path: write transactions shaped like PathwayReadModel.write, with the triggers on and off.
"""

from __future__ import annotations

import argparse
import hashlib
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import asyncpg

from activities.kpi import KpiReadModel
from domain.deadlines import add_days, add_months
from domain.kpi import build_report
from bench.common import machine
from workers.dev.embedded import free_port, start_postgres
from workers.runtime.migrations import migrate

TERRITORIES = ("Arrageois", "Artois", "Audomarois", "Boulonnais", "Calaisis", "Hénin-Carvin", "Lens-Liévin",
               "Montreuillois", "Ternois")
YEARS = (date(2013, 1, 1), date(2022, 12, 31))  # entry dates of the generated pathways
YEAR = (date(2022, 1, 1), date(2022, 12, 31))  # the report's period
TARGET_SECONDS = 2.0


def generate(first: int, count: int, rng: random.Random) -> dict[str, list[tuple]]:
    """Rows of ``count`` pathways numbered from ``first``, shaped like the 2022 report (98 % oriented…)."""
    rows: dict[str, list[tuple]] = {t: [] for t in (
        "pathways", "deadlines", "breaches", "pathway_appointments", "pathway_cers", "stage_changes",
        "lost_from_view_convocations")}
    for n in range(first, first + count):
        pid = f"pathway-{hashlib.sha256(str(n).encode()).hexdigest()[:32]}"  # ids as domain/identity.py makes them
        entry = YEARS[0] + timedelta(days=rng.randrange((YEARS[1] - YEARS[0]).days + 1))
        territory = rng.choice(TERRITORIES)
        roll = rng.random()
        paused = rng.randrange(1, 30) if rng.random() < 0.1 else 0
        due = add_days(add_months(entry, 1), paused)
        oriented = target = None
        stage = "AWAITING_ORIENTATION"
        changes = [("DETECTED", "AWAITING_ORIENTATION", entry, "FLOW_SUBJECT")]
        if roll < 0.03:  # still not subject: the clock is paused
            rows["deadlines"].append((pid, "orientation-1", "ORIENTATION", entry, due, "PAUSED", None, "SLAI", 1))
            stage = "NOT_SUBJECT"
        elif roll < 0.05:  # never oriented: a "perdu de vue"
            rows["deadlines"].append((pid, "orientation-1", "ORIENTATION", entry, due, "BREACHED", add_days(due, 1), "SLAI", 1))
            rows["breaches"].append((pid, "orientation-1", "ORIENTATION", due, add_days(due, 1), "SLAI"))
            if rng.random() < 0.4:
                convoked = add_days(due, rng.randrange(30, 200))
                rows["lost_from_view_convocations"].append(
                    (pid, f"conv-{n}", convoked, add_days(convoked, 15), rng.choice(["ATTENDED", "MISSED", None]), 1))
                if rng.random() < 0.3:
                    changes.append(("AWAITING_ORIENTATION", "SANCTION_PROCEDURE", add_days(convoked, 40), "EP_SANCTION_PROCEDURE"))
        else:
            oriented = add_days(entry, paused + max(1, int(rng.gammavariate(4, 5))))
            target = "POLE_EMPLOI_AG" if rng.random() < 0.05 else "PLATFORM"
            met = oriented <= due
            rows["deadlines"].append((pid, "orientation-1", "ORIENTATION", entry, due,
                                      "MET" if met else "BREACHED", oriented if met else add_days(due, 1), "SLAI", 2))
            if not met:
                rows["breaches"].append((pid, "orientation-1", "ORIENTATION", due, add_days(due, 1), "SLAI"))
            changes.append(("AWAITING_ORIENTATION", "ORIENTED_TO_PLATFORM", oriented, "ORIENTATION_NOTIFIED"))
            stage = "ORIENTED_TO_PLATFORM"
            appointment_due = add_days(oriented, 14)
            cer_due = add_months(oriented, 2)
            appointment = None
            if rng.random() < 0.985:
                appointment = add_days(oriented, rng.randrange(3, 30))
                rows["pathway_appointments"].append((pid, f"a-{n}-1", "SCHEDULED", appointment, add_days(oriented, 1), True, False))
                rows["pathway_appointments"].append((pid, f"a-{n}-2", "HELD", appointment, appointment, True, False))
                changes.append(("ORIENTED_TO_PLATFORM", "PLATFORM_FIRST_APPOINTMENT", add_days(oriented, 1), "APPOINTMENT_SCHEDULED"))
                stage = "PLATFORM_FIRST_APPOINTMENT"
            in_time = appointment is not None and appointment <= appointment_due
            rows["deadlines"].append((pid, "first_appointment-3", "FIRST_APPOINTMENT", oriented, appointment_due,
                                      "MET" if in_time else "BREACHED", appointment if in_time else add_days(appointment_due, 1), "PF", 3))
            signed = None
            if appointment is not None and rng.random() < 0.72:
                signed = add_days(appointment, rng.randrange(0, 45))
                rows["pathway_cers"].append((pid, f"cer-{n}-1", "SOLIDARITE", signed, add_months(signed, 6), signed,
                                             False, 1, "PLATFORM", "pf-1", 0, 4))
                changes.append(("PLATFORM_FIRST_APPOINTMENT", "CER_ACTIVE", signed, "CER_SIGNED"))
                stage = "CER_ACTIVE"
                if rng.random() < 0.3:
                    renewal = add_months(signed, 6)
                    rows["pathway_cers"].append((pid, f"cer-{n}-2", "SOLIDARITE", renewal, add_months(renewal, 6),
                                                 renewal, True, 1, "PLATFORM", "pf-1", 0, 5))
            rows["deadlines"].append((pid, "first_cer-4", "FIRST_CER", oriented, cer_due,
                                      "MET" if signed and signed <= cer_due else "PENDING", signed, "PF", 4))
        rows["pathways"].append((pid, f"person-{n}", territory, "2023.1", stage, True, entry, target, oriented, 9))
        rows["stage_changes"].extend((pid, seq, f, t, on, cause) for seq, (f, t, on, cause) in enumerate(changes, 1))
    return rows


COLUMNS = {
    "pathways": ["pathway_id", "person_id", "territory", "rule_set", "stage", "subject_to_duties", "entry_date",
                 "orientation_target", "orientation_notified_on", "version"],
    "deadlines": ["pathway_id", "deadline_id", "kind", "started_on", "due_on", "status", "closed_on", "responsible",
                  "version"],
    "breaches": ["pathway_id", "deadline_id", "kind", "due_on", "breached_on", "responsible"],
    "pathway_appointments": ["pathway_id", "event_id", "kind", "appointment_date", "recorded_on", "physical", "excused"],
    "pathway_cers": ["pathway_id", "cer_id", "cer_type", "start_on", "end_on", "signed_on", "renewal", "action_count",
                     "referent_type", "structure_id", "physical_appointments", "version"],
    "stage_changes": ["pathway_id", "seq", "from_stage", "to_stage", "changed_on", "cause"],
    "lost_from_view_convocations": ["pathway_id", "convocation_id", "convoked_on", "appointment_date", "outcome",
                                    "version"],
}


async def load(conn: asyncpg.Connection, first: int, count: int, rng: random.Random, chunk: int = 100_000) -> None:
    for start in range(first, first + count, chunk):
        rows = generate(start, min(chunk, first + count - start), rng)
        for table, records in rows.items():
            if records:
                await conn.copy_records_to_table(table, records=records, columns=COLUMNS[table])
    await conn.execute("VACUUM ANALYZE")


async def best_of(model: KpiReadModel, runs: int, *args) -> tuple[float, object]:
    times, facts = [], None
    for _ in range(runs):
        started = time.perf_counter()
        facts = await model.facts(*args)
        build_report(facts, args[0], args[1], args[2] if len(args) > 2 else None)
        times.append(time.perf_counter() - started)
    return min(times), facts


def end_to_end(url: str, period: tuple[date, date], runs: int = 3) -> float:
    """Best of ``runs`` of the whole command, Python start-up and imports included."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workers.cli", "report", "kpi", "--from", period[0].isoformat(),
                        "--to", period[1].isoformat(), "--format", "json"],
                       check=True, capture_output=True, env={**os.environ, "DATABASE_URL": url})
        times.append(time.perf_counter() - started)
    return min(times)


TRIGGERED = ("pathways", "deadlines", "pathway_appointments", "pathway_cers", "breaches")
CLOCK_KINDS = ("ORIENTATION", "FIRST_APPOINTMENT", "FIRST_CER")


async def write_cost(conn: asyncpg.Connection, count: int = 500) -> dict[bool, float]:
    """Milliseconds per write transaction shaped like PathwayReadModel.write (a pathway upsert, its three clocks,
    an appointment, a stage change), with the ``pathway_kpi`` triggers on and off."""
    cost = {}
    for on in (True, False, True, False):  # twice each, interleaved; the best run of each counts
        for table in TRIGGERED:
            await conn.execute(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER USER")
        started = time.perf_counter()
        for n in range(count):
            pid, day = f"write-{on}-{n}-{time.monotonic_ns()}", date(2023, 1, 1) + timedelta(days=n % 365)
            async with conn.transaction():
                await conn.execute(
                    """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, entry_date, version)
                       VALUES ($1, 'p', 'Artois', '2023.1', 'AWAITING_ORIENTATION', $2, 1)
                       ON CONFLICT (pathway_id) DO UPDATE SET stage = EXCLUDED.stage, version = EXCLUDED.version
                       WHERE pathways.version < EXCLUDED.version""", pid, day)
                await conn.executemany(
                    """INSERT INTO deadlines (pathway_id, deadline_id, kind, started_on, due_on, status, responsible,
                           version) VALUES ($1, $2, $2, $3, $4, 'PENDING', 'SLAI', 1)
                       ON CONFLICT (pathway_id, deadline_id) DO UPDATE SET due_on = EXCLUDED.due_on,
                           version = EXCLUDED.version WHERE deadlines.version < EXCLUDED.version""",
                    [(pid, kind, day, add_months(day, 1)) for kind in CLOCK_KINDS])
                await conn.executemany(
                    """INSERT INTO pathway_appointments (pathway_id, event_id, kind, appointment_date, recorded_on)
                       VALUES ($1, 'e', 'SCHEDULED', $2, $2) ON CONFLICT DO NOTHING""", [(pid, day)])
                await conn.executemany(
                    """INSERT INTO stage_changes (pathway_id, seq, to_stage, changed_on, cause)
                       VALUES ($1, 1, 'AWAITING_ORIENTATION', $2, 'FLOW_SUBJECT') ON CONFLICT DO NOTHING""",
                    [(pid, day)])
        ms = (time.perf_counter() - started) / count * 1000
        cost[on] = min(ms, cost.get(on, ms))
    for table in (*TRIGGERED, "stage_changes"):
        await conn.execute(f"DELETE FROM {table} WHERE pathway_id LIKE 'write-%'")
    return cost


async def restart_with(server, shared_buffers: str | None):
    """The embedded server keeps PostgreSQL's 128MB of shared buffers; a reporting database gets more."""
    if not shared_buffers:
        return server
    conn = await asyncpg.connect(server.url)
    await conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
    await conn.close()
    server.stop()
    return start_postgres(server.data_dir, free_port())


async def main(sizes: list[int], seed: int, shared_buffers: str | None, keep: Path | None) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_postgres((keep or Path(tmp)) / "pg", free_port())
        try:
            await migrate(server.url)
            server = await restart_with(server, shared_buffers)
            conn = await asyncpg.connect(server.url)
            print(f"machine: {machine()}; PostgreSQL shared_buffers {await conn.fetchval('SHOW shared_buffers')}; "
                  f"load avg at start {os.getloadavg()[0]:.2f}")
            model = KpiReadModel(conn)
            results: dict[int, dict[str, float]] = {}
            loaded = 0
            for size in sorted(sizes):
                started = time.perf_counter()
                await load(conn, loaded, size - loaded, rng)
                loaded = size
                print(f"{size:>9} pathways loaded in {time.perf_counter() - started:.1f} s "
                      f"({await conn.fetchval('SELECT count(*) FROM deadlines')} clocks, "
                      f"{await conn.fetchval('SELECT count(*) FROM stage_changes')} stage changes); "
                      f"load avg {os.getloadavg()[0]:.2f}")
                await model.facts(*YEAR)  # warm the cache
                year, facts = await best_of(model, 3, *YEAR)
                month, _ = await best_of(model, 3, date(2022, 3, 1), date(2022, 3, 31))
                territory, _ = await best_of(model, 3, *YEAR, "Calaisis")
                whole, everyone = await best_of(model, 3, *YEARS)
                results[size] = {"2022 report": year, "whole table": whole,
                                 "2022 end to end": end_to_end(server.url, YEAR),
                                 "whole table end to end": end_to_end(server.url, YEARS)}
                print(f"  2022 (cohort of {facts.new_entrants}): {year:.3f} s; March 2022: {month:.3f} s; "
                      f"Calaisis 2022: {territory:.3f} s; end to end: {results[size]['2022 end to end']:.2f} s")
                print(f"  whole table as one cohort ({everyone.new_entrants}): {whole:.3f} s; "
                      f"end to end: {results[size]['whole table end to end']:.2f} s; load avg {os.getloadavg()[0]:.2f}")
                print(f"  oriented within 1 month: {facts.oriented_within_1_month / facts.new_entrants:.1%}, "
                      f"appointments within 2 weeks: "
                      f"{facts.first_appointments_within_2_weeks / max(facts.first_appointments_set, 1):.1%}")
            cost = await write_cost(conn)
            print(f"write transaction (PathwayReadModel.write's shape) at {loaded} pathways: {cost[True]:.2f} ms with "
                  f"the pathway_kpi triggers, {cost[False]:.2f} ms without")
            await conn.close()
        finally:
            server.stop()
    small, large = min(results), max(results)
    for name, seconds in results[large].items():
        growth = (f"; {large / small:.0f}x the rows, {seconds / results[small][name]:.1f}x the time"
                  if small != large else "")
        verdict = "met" if seconds < TARGET_SECONDS else "missed"
        print(f"{name} at {large} pathways: {seconds:.3f} s, {seconds / TARGET_SECONDS:.2f} of the "
              f"{TARGET_SECONDS:.0f} s target ({verdict}){growth}")
    print(f"load avg at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shared-buffers", default="1GB", help="PostgreSQL shared_buffers ('' keeps 128MB)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the database in this directory")
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.seed, args.shared_buffers or None, args.keep))
