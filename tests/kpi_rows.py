"""Read-model rows for the indicator tests, written as the pathway activities write them, in a private schema.

Each test module gets its own schema where every migration is applied (the read-model tables empty, the
triggers that keep ``pathway_kpi`` included), so rows written by other tests (the pathway workflow tests write
to ``public``) never reach the counts.
"""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg

from workers.runtime.migrations import discover


async def create_schema(pool: asyncpg.Pool) -> str:
    schema = f"kpi_{uuid.uuid4().hex[:10]}"
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET LOCAL search_path TO {schema}")
        for migration in discover():
            await conn.execute(migration.path.read_text(encoding="utf-8"))
    return schema


class Rows:
    """Small writers for one connection whose search_path is the test schema."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.version = 0

    def _next(self) -> int:
        self.version += 1
        return self.version

    async def pathway(self, pid: str, entry: date | None, *, territory: str = "Arrageois", oriented: date | None = None,
                      target: str | None = None, closed_on: date | None = None, rule_set: str = "2023.1",
                      stage: str = "AWAITING_ORIENTATION") -> None:
        if oriented is not None and target is None:
            target = "PLATFORM"
        await self.conn.execute(
            """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, subject_to_duties, entry_date,
                   orientation_target, orientation_notified_on, closed_on, version, breach_count, cer_count)
               VALUES ($1, $2, $3, $4, $5, true, $6, $7, $8, $9, $10, 99, 99)""",
            pid, f"person-{pid}", territory, rule_set, stage, entry, target, oriented, closed_on, self._next(),
        )

    async def deadline(self, pid: str, kind: str, started: date, due: date, status: str = "PENDING",
                       closed_on: date | None = None) -> None:
        await self.conn.execute(
            """INSERT INTO deadlines (pathway_id, deadline_id, kind, started_on, due_on, status, closed_on, responsible,
                   version) VALUES ($1, $2, $3, $4, $5, $6, $7, 'SLAI:Arrageois', $8)""",
            pid, f"{kind.lower()}-{self._next()}", kind, started, due, status, closed_on, self.version,
        )

    async def breach(self, pid: str, kind: str, due: date, breached_on: date) -> None:
        await self.conn.execute(
            """INSERT INTO breaches (pathway_id, deadline_id, kind, due_on, breached_on, responsible)
               VALUES ($1, $2, $3, $4, $5, 'SLAI:Arrageois')""",
            pid, f"{kind.lower()}-{self._next()}", kind, due, breached_on,
        )

    async def appointment(self, pid: str, kind: str, on: date, recorded_on: date | None = None) -> None:
        await self.conn.execute(
            """INSERT INTO pathway_appointments (pathway_id, event_id, kind, appointment_date, recorded_on)
               VALUES ($1, $2, $3, $4, $5)""",
            pid, f"evt-{self._next()}", kind, on, recorded_on or on,
        )

    async def cer(self, pid: str, signed_on: date, *, renewal: bool = False) -> None:
        await self.conn.execute(
            """INSERT INTO pathway_cers (pathway_id, cer_id, cer_type, start_on, end_on, signed_on, renewal,
                   action_count, referent_type, structure_id, version)
               VALUES ($1, $2, 'SOLIDARITE', $3::date, $3::date + 180, $3::date, $4, 1, 'PLATFORM', 'plateforme-1', $5)""",
            pid, f"cer-{self._next()}", signed_on, renewal, self.version,
        )

    async def stage_change(self, pid: str, to_stage: str, on: date, cause: str) -> None:
        await self.conn.execute(
            """INSERT INTO stage_changes (pathway_id, seq, from_stage, to_stage, changed_on, cause)
               VALUES ($1, $2, NULL, $3, $4, $5)""",
            pid, self._next(), to_stage, on, cause,
        )

    async def convocation(self, pid: str, convoked_on: date, outcome: str | None) -> None:
        await self.conn.execute(
            """INSERT INTO lost_from_view_convocations (pathway_id, convocation_id, convoked_on, outcome, version)
               VALUES ($1, $2, $3, $4, $5)""",
            pid, f"conv-{self._next()}", convoked_on, outcome, self.version,
        )


def d(text: str) -> date:
    return date.fromisoformat(text)


async def seed_scenario(rows: Rows) -> None:
    """The constructed cohort of ``test_kpi.py`` (answers computed by hand there, case by case)."""
    o, fa, fc = "ORIENTATION", "FIRST_APPOINTMENT", "FIRST_CER"
    # --- (a) new entrants of January 2023, Arrageois
    # P1 month end, on time: entry 31 Jan, clock due 28 Feb, oriented 28 Feb; RDV on day 14; CER on 28 Apr.
    await rows.pathway("P1", d("2023-01-31"), oriented=d("2023-02-28"))
    await rows.deadline("P1", o, d("2023-01-31"), d("2023-02-28"), "MET", d("2023-02-28"))
    await rows.deadline("P1", fa, d("2023-02-28"), d("2023-03-14"), "MET", d("2023-03-14"))
    await rows.deadline("P1", fc, d("2023-02-28"), d("2023-04-28"), "MET", d("2023-04-10"))
    await rows.appointment("P1", "SCHEDULED", d("2023-03-14"), recorded_on=d("2023-03-01"))
    await rows.appointment("P1", "HELD", d("2023-03-14"))
    await rows.cer("P1", d("2023-04-28"))
    await rows.cer("P1", d("2023-10-20"), renewal=True)
    # P2 month end, late: entry 31 Jan, oriented 1 Mar (breach); RDV fixed for day 15; CER one day late.
    await rows.pathway("P2", d("2023-01-31"), oriented=d("2023-03-01"))
    await rows.deadline("P2", o, d("2023-01-31"), d("2023-02-28"), "BREACHED", d("2023-03-01"))
    await rows.breach("P2", o, d("2023-02-28"), d("2023-03-01"))
    await rows.deadline("P2", fa, d("2023-03-01"), d("2023-03-15"), "BREACHED", d("2023-03-16"))
    await rows.deadline("P2", fc, d("2023-03-01"), d("2023-05-01"), "BREACHED", d("2023-05-02"))
    await rows.appointment("P2", "SCHEDULED", d("2023-03-16"), recorded_on=d("2023-03-10"))
    await rows.cer("P2", d("2023-05-02"))
    # P3 pauses: not subject for 20 days moved the orientation clock from 10 Feb to 2 Mar; oriented 25 Feb
    # (46 days after entry, 26 counted). Left RSA for 10 days moved the appointment clock to 21 Mar; RDV 18 Mar.
    await rows.pathway("P3", d("2023-01-10"), oriented=d("2023-02-25"))
    await rows.deadline("P3", o, d("2023-01-10"), d("2023-03-02"), "MET", d("2023-02-25"))
    await rows.deadline("P3", fa, d("2023-02-25"), d("2023-03-21"), "MET", d("2023-03-18"))
    await rows.deadline("P3", fc, d("2023-02-25"), d("2023-05-05"), "PENDING")
    await rows.appointment("P3", "SCHEDULED", d("2023-03-18"))
    # P4 the first appointment known only from its clock (MET on 1 Feb), no appointment row; CER in time.
    await rows.pathway("P4", d("2023-01-05"), oriented=d("2023-01-20"))
    await rows.deadline("P4", o, d("2023-01-05"), d("2023-02-05"), "MET", d("2023-01-20"))
    await rows.deadline("P4", fa, d("2023-01-20"), d("2023-02-03"), "MET", d("2023-02-01"))
    await rows.deadline("P4", fc, d("2023-01-20"), d("2023-03-20"), "MET", d("2023-03-01"))
    await rows.cer("P4", d("2023-03-01"))
    # P5 not subject since: the clock is PAUSED, not oriented.
    await rows.pathway("P5", d("2023-01-20"), stage="NOT_SUBJECT")
    await rows.deadline("P5", o, d("2023-01-20"), d("2023-02-20"), "PAUSED")
    # P6 never oriented: breach on 3 Feb (a "perdu de vue" in February).
    await rows.pathway("P6", d("2023-01-02"))
    await rows.deadline("P6", o, d("2023-01-02"), d("2023-02-02"), "BREACHED", d("2023-02-03"))
    await rows.breach("P6", o, d("2023-02-02"), d("2023-02-03"))
    # P7 CAF route: orientation is the SLAI's acceptance of the saisine (clock MET on 1 Feb), no notification row.
    await rows.pathway("P7", d("2023-01-12"), stage="CAF_FIRST_INTERVIEW")
    await rows.deadline("P7", o, d("2023-01-12"), d("2023-02-12"), "MET", d("2023-02-01"))
    # P10 / P11 month end with no clock row at all: the last day is computed (31 Jan + 1 month = 28 Feb).
    await rows.pathway("P10", d("2023-01-31"), oriented=d("2023-03-01"))
    await rows.pathway("P11", d("2023-01-31"), oriented=d("2023-02-28"))
    # P8 another territory; P9 entered in December (outside the period).
    await rows.pathway("P8", d("2023-01-15"), territory="Calaisis", oriented=d("2023-01-16"))
    await rows.deadline("P8", o, d("2023-01-15"), d("2023-02-15"), "MET", d("2023-01-16"))
    await rows.pathway("P9", d("2022-12-31"), oriented=d("2023-01-10"))
    await rows.deadline("P9", o, d("2022-12-31"), d("2023-01-31"), "MET", d("2023-01-10"))

    # --- (c) accompagnement global, oriented in January 2023 (entered in December: not in the (a) cohort)
    ag = "POLE_EMPLOI_AG"
    # G1 first appointment held 30 Jan: 20 days.
    await rows.pathway("G1", d("2022-12-20"), oriented=d("2023-01-10"), target=ag, stage="CER_ACTIVE")
    await rows.deadline("G1", fa, d("2023-01-10"), d("2023-01-24"), "BREACHED", d("2023-01-25"))
    await rows.appointment("G1", "SCHEDULED", d("2023-01-30"), recorded_on=d("2023-01-12"))
    await rows.appointment("G1", "HELD", d("2023-01-30"))
    await rows.cer("G1", d("2023-02-15"))
    # G2 no appointment row: started with the CER on 5 Feb, 16 days of which 5 paused (clock 3 Feb → 8 Feb): 11.
    await rows.pathway("G2", d("2022-12-21"), oriented=d("2023-01-20"), target=ag, stage="CER_ACTIVE")
    await rows.deadline("G2", fa, d("2023-01-20"), d("2023-02-08"), "PENDING")
    await rows.cer("G2", d("2023-02-05"))
    # G3 not started; G4 oriented in February (outside).
    await rows.pathway("G3", d("2022-12-22"), oriented=d("2023-01-25"), target=ag, stage="REFERENT_DESIGNATED")
    await rows.pathway("G4", d("2022-12-23"), oriented=d("2023-02-02"), target=ag, stage="REFERENT_DESIGNATED")

    # --- (e) perdus de vue in February 2023, Arrageois (P6 above is one)
    # L1 oriented in January, before the period: no longer lost.
    await rows.pathway("L1", d("2022-11-02"), oriented=d("2023-01-15"))
    await rows.breach("L1", o, d("2022-12-02"), d("2022-12-03"))
    # L2 oriented during the period: lost until then.
    await rows.pathway("L2", d("2022-10-01"), oriented=d("2023-02-10"))
    await rows.breach("L2", o, d("2022-11-01"), d("2022-11-02"))
    # L3 closed in January: not lost in February.
    await rows.pathway("L3", d("2022-10-01"), closed_on=d("2023-01-20"), stage="CLOSED")
    await rows.breach("L3", o, d("2022-11-01"), d("2022-11-02"))
    # L4 convoked 6 Feb, did not come, sanction procedure 20 Feb: convoked and sanctioned.
    await rows.pathway("L4", d("2022-08-01"), stage="SANCTION_PROCEDURE")
    await rows.breach("L4", o, d("2022-09-01"), d("2022-09-02"))
    await rows.convocation("L4", d("2023-02-06"), "MISSED")
    await rows.stage_change("L4", "SANCTION_PROCEDURE", d("2023-02-20"), "EP_SANCTION_PROCEDURE")
    # L5 convoked, came; a later sanction is not "ne s'étant pas rendus au rdv".
    await rows.pathway("L5", d("2022-11-01"), stage="SANCTION_PROCEDURE")
    await rows.breach("L5", o, d("2022-11-30"), d("2022-12-01"))
    await rows.convocation("L5", d("2023-02-10"), "ATTENDED")
    await rows.stage_change("L5", "SANCTION_PROCEDURE", d("2023-03-01"), "EP_SANCTION_PROCEDURE")
    # L6 selected by the campaign without a breach row; outcome not recorded; closed for non-respect: sanctioned.
    await rows.pathway("L6", None, stage="CLOSED", closed_on=d("2023-02-27"))
    await rows.convocation("L6", d("2023-02-15"), None)
    await rows.stage_change("L6", "CLOSED", d("2023-02-27"), "EXIT_NON_RESPECT_OBLIGATIONS")
    # L7 convoked in January (outside), still lost in February.
    await rows.pathway("L7", d("2022-11-01"), stage="SANCTION_PROCEDURE")
    await rows.breach("L7", o, d("2022-11-30"), d("2022-12-01"))
    await rows.convocation("L7", d("2023-01-20"), "MISSED")
    await rows.stage_change("L7", "SANCTION_PROCEDURE", d("2023-02-05"), "EP_SANCTION_PROCEDURE")
    # L8 convoked 12 Feb, missed; its sanction stage dates from before the convocation: not counted.
    await rows.pathway("L8", d("2022-11-01"), stage="SANCTION_PROCEDURE")
    await rows.breach("L8", o, d("2022-11-30"), d("2022-12-01"))
    await rows.convocation("L8", d("2023-02-12"), "MISSED")
    await rows.stage_change("L8", "SANCTION_PROCEDURE", d("2023-02-01"), "EP_SANCTION_PROCEDURE")
    # L9 CAF route accepted in January (no notification date): no longer lost.
    await rows.pathway("L9", d("2022-11-01"), stage="CER_ACTIVE")
    await rows.breach("L9", o, d("2022-11-30"), d("2022-12-01"))
    await rows.stage_change("L9", "REFERENT_DESIGNATED", d("2023-01-10"), "CAF_SAISINE_ACCEPTED")
