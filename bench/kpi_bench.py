"""`parcours report kpi` on a large generated read model (not a test): seconds at 100k and 1M pathways.

    .venv/bin/python -m bench.kpi_bench [--sizes 100000 1000000] [--seed 7] [--shared-buffers 1GB] [--keep DIR]

A throw-away embedded PostgreSQL gets the real migrations, then pathways entered over ten years (2013–2022)
with the rows the pathway activities write for them (clocks, breaches, appointments, CERs, stage changes,
convocations). At 1M pathways a year is 100k new entrants, 15 times the Pas-de-Calais volume (~6 500 a year,
domain.md §5.4). Each size is reached by adding pathways to the same database; then, warm, best of 3:
the 2022 report (target: under 2 s at 1M), one month, one territory for 2022, and the whole table as one
cohort under both plans (the worst case, for information). The end-to-end command (Python start-up
included) is timed once for 2022.
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

from activities.kpi import KpiReadModel, Plan
from domain.deadlines import add_days, add_months
from domain.kpi import build_report
from bench.common import machine
from workers.embedded import free_port, start_postgres
from workers.migrations import migrate

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
    await conn.execute("ANALYZE")


async def best_of(model: KpiReadModel, runs: int, *args) -> tuple[float, object]:
    times, facts = [], None
    for _ in range(runs):
        started = time.perf_counter()
        facts = await model.facts(*args)
        build_report(facts, args[0], args[1], args[2] if len(args) > 2 else None)
        times.append(time.perf_counter() - started)
    return min(times), facts


def end_to_end(url: str) -> float:  # noqa: D103
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workers.cli", "report", "kpi", "--from", "2022-01-01", "--to", "2022-12-31",
                    "--format", "json"], check=True, capture_output=True, env={**os.environ, "DATABASE_URL": url})
    return time.perf_counter() - started


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
            print(f"machine: {machine()}; PostgreSQL shared_buffers {await conn.fetchval('SHOW shared_buffers')}")
            auto, by_index, by_scan = KpiReadModel(conn), KpiReadModel(conn, plan=Plan.INDEX), KpiReadModel(conn, plan=Plan.SCAN)
            results: dict[int, float] = {}
            loaded = 0
            for size in sorted(sizes):
                started = time.perf_counter()
                await load(conn, loaded, size - loaded, rng)
                loaded = size
                print(f"{size:>9} pathways loaded in {time.perf_counter() - started:.1f} s "
                      f"({await conn.fetchval('SELECT count(*) FROM deadlines')} clocks, "
                      f"{await conn.fetchval('SELECT count(*) FROM stage_changes')} stage changes)")
                await auto.facts(*YEAR)  # warm the cache
                year, facts = await best_of(auto, 3, *YEAR)
                month, _ = await best_of(auto, 3, date(2022, 3, 1), date(2022, 3, 31))
                territory, _ = await best_of(auto, 3, *YEAR, "Calaisis")
                results[size] = year
                print(f"  2022 (cohort of {facts.new_entrants}): {year:.3f} s; March 2022: {month:.3f} s; "
                      f"Calaisis 2022: {territory:.3f} s; end to end: {end_to_end(server.url):.2f} s")
                print(f"  oriented within 1 month: {facts.oriented_within_1_month / facts.new_entrants:.1%}, "
                      f"appointments within 2 weeks: "
                      f"{facts.first_appointments_within_2_weeks / max(facts.first_appointments_set, 1):.1%}")
                whole_index, _ = await best_of(by_index, 1, *YEARS)
                whole_scan, whole = await best_of(by_scan, 1, *YEARS)
                print(f"  whole table as one cohort ({whole.new_entrants}): {whole_scan:.3f} s in one hash pass, "
                      f"{whole_index:.3f} s through the indexes")
            await conn.close()
        finally:
            server.stop()
    small, large = min(results), max(results)
    if small != large:
        print(f"ratio: {large / small:.0f}x the rows, {results[large] / results[small]:.1f}x the time for a year's report")
    print(f"at {large} pathways: {results[large]:.3f} s for a year's report, {results[large] / TARGET_SECONDS:.2f} of "
          f"the {TARGET_SECONDS:.0f} s target ({'met' if results[large] < TARGET_SECONDS else 'missed'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shared-buffers", default="1GB", help="PostgreSQL shared_buffers ('' keeps 128MB)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the database in this directory")
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.seed, args.shared_buffers or None, args.keep))
