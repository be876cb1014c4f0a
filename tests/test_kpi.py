"""Seed-002 indicators on a constructed read model with hand-computed answers (scenario in ``kpi_rows.py``).

The rows are those the pathway activities write; the answers below are worked out case by case from
domain.md §5.1 and §7.1 (G-B1 month ends, G-B2 pauses, G-B4 appointment date), not from the code.
"""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest
import pytest_asyncio

from activities.kpi import KpiReadModel, Plan
from domain import kpi
from domain.kpi import DelayBucket, KpiFacts, build_report, orientation_last_day, rate, reference_rate_2022
from kpi_rows import Rows, create_schema, seed_scenario

JANUARY = (date(2023, 1, 1), date(2023, 1, 31))
FEBRUARY = (date(2023, 2, 1), date(2023, 2, 28))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def kpi_schema(db_pool, database_url) -> str:
    schema = await create_schema(db_pool)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        await seed_scenario(Rows(conn))
    finally:
        await conn.close()
    return schema


@pytest_asyncio.fixture(loop_scope="session", params=[Plan.INDEX, Plan.SCAN], ids=["index", "scan"])
async def model(request, database_url, kpi_schema):
    """Both query plans must give the same, hand-computed, answers."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": kpi_schema})
    try:
        yield KpiReadModel(conn, plan=request.param)
    finally:
        await conn.close()


# ---------------------------------------------------------------- (a) new entrants of January


async def test_new_entrant_cohort_counts_by_hand(model):
    facts = await model.facts(*JANUARY, "Arrageois")
    # P1 P2 P3 P4 P5 P6 P7 P10 P11 (P8 is in Calaisis, P9 entered on 31 December, G*/L* entered earlier)
    assert facts.new_entrants == 9
    # P1 P2 P3 P4 P7 P10 P11; P5 is paused (not subject), P6 never oriented
    assert facts.oriented == 7
    # P1 (28 Feb, the clamped last day), P3 (pause), P4, P7 (CAF acceptance), P11; not P2 / P10 (1 March)
    assert facts.oriented_within_1_month == 5
    # P1 P2 P3 (appointment rows) and P4 (known from its MET clock only)
    assert facts.first_appointments_set == 4
    # P1 on day 14 exactly, P3 within its paused clock, P4; not P2 (day 15)
    assert facts.first_appointments_within_2_weeks == 3
    # P1 P2 P4; P1's renewal does not count
    assert facts.first_cers == 3
    # P1 on 28 Apr (28 Feb + 2 months), P4; not P2 (2 May > 1 May)
    assert facts.first_cers_within_2_months == 2


async def test_month_end_entry_31_january(model):
    """G-B1 / §8.2: 31 Jan + 1 month = 28 Feb. Oriented 28 Feb counts, 1 Mar does not — with the clock rows
    (P1, P2) and computed without them (P11, P10)."""
    facts = await model.facts(date(2023, 1, 31), date(2023, 1, 31), "Arrageois")
    assert (facts.new_entrants, facts.oriented, facts.oriented_within_1_month) == (4, 4, 2)
    assert facts.orientation_delays == [DelayBucket(days=28, within=2, late=0), DelayBucket(days=29, within=0, late=2)]
    assert orientation_last_day(date(2023, 1, 31)) == date(2023, 2, 28)
    assert orientation_last_day(date(2024, 1, 31)) == date(2024, 2, 29)


async def test_pause_moves_the_deadline_and_is_not_counted_in_the_delay(model):
    """G-B2: P3 was not subject for 20 days; oriented 46 days after entry, 26 counted, within the month."""
    facts = await model.facts(date(2023, 1, 10), date(2023, 1, 10), "Arrageois")
    assert (facts.new_entrants, facts.oriented_within_1_month) == (1, 1)
    assert facts.orientation_delays == [DelayBucket(days=26, within=1)]
    assert orientation_last_day(date(2023, 1, 10), paused_days=20) == date(2023, 3, 2)
    # its first appointment (18 Mar) is after orientation + 14 days (11 Mar) but within the paused clock
    assert (facts.first_appointments_set, facts.first_appointments_within_2_weeks) == (1, 1)


async def test_orientation_delay_distribution(model):
    facts = await model.facts(*JANUARY, "Arrageois")
    assert facts.orientation_delays == [
        DelayBucket(days=15, within=1),  # P4
        DelayBucket(days=20, within=1),  # P7
        DelayBucket(days=26, within=1),  # P3 (46 - 20 paused)
        DelayBucket(days=28, within=2),  # P1, P11
        DelayBucket(days=29, late=2),  # P2, P10
    ]


async def test_all_territories_and_other_territory(model):
    everywhere = await model.facts(*JANUARY)
    assert (everywhere.new_entrants, everywhere.oriented_within_1_month) == (10, 6)  # + P8
    assert DelayBucket(days=1, within=1) in everywhere.orientation_delays
    calaisis = await model.facts(*JANUARY, "Calaisis")
    assert (calaisis.new_entrants, calaisis.oriented_within_1_month, calaisis.first_cers) == (1, 1, 0)
    nowhere = await model.facts(*JANUARY, "Ternois")
    assert nowhere == KpiFacts()


async def test_stored_counters_are_not_used(model, database_url, kpi_schema):
    """G-B21: breach_count / cer_count hold 99 in every row; nothing moves when they change."""
    before = await model.facts(*JANUARY, "Arrageois")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": kpi_schema})
    try:
        async with conn.transaction():
            await conn.execute("UPDATE pathways SET breach_count = 0, cer_count = 0")
            assert await KpiReadModel(conn).facts(*JANUARY, "Arrageois") == before
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


class _Rollback(Exception):
    pass


# ---------------------------------------------------------------- (c) accompagnement global


async def test_global_accompaniment_start_delay(model):
    facts = await model.facts(*JANUARY, "Arrageois")
    # G1 G2 G3 oriented in January (G4 in February)
    assert facts.global_accompaniment_oriented == 3
    # G1: first appointment held 30 Jan = 20 days; G2: CER 5 Feb = 16 days minus 5 paused = 11; G3 not started
    assert (facts.global_accompaniment_started, facts.global_accompaniment_start_days) == (2, 31)
    line = build_report(facts, *JANUARY).indicator(kpi.GLOBAL_START_DELAY)
    assert line.value == pytest.approx(15.5)
    assert (line.base, line.target_2022, line.reference_2022) == (2, 21, 16.7)


# ---------------------------------------------------------------- (e) perdus de vue


async def test_lost_from_view_convoked_and_sanctioned(model):
    facts = await model.facts(*FEBRUARY, "Arrageois")
    # P6 L2 L4 L5 L6 L7 L8 (not L1 / L9 oriented before, L3 closed before, P2 breached on 1 March)
    assert facts.lost_from_view == 7
    # convoked in February: L4 L5 L6 L8 (L7 in January)
    assert facts.lost_from_view_convoked == 4
    # L4 (missed, sanction procedure after), L6 (no outcome, closed for non-respect); not L5 (came), L8 (before)
    assert facts.lost_from_view_sanctioned == 2
    report = build_report(facts, *FEBRUARY, "Arrageois")
    assert report.indicator(kpi.LOST_FROM_VIEW_CONVOKED).rate == pytest.approx(4 / 7)
    assert report.indicator(kpi.LOST_FROM_VIEW_SANCTIONED).rate == pytest.approx(2 / 4)
    assert report.indicator(kpi.LOST_FROM_VIEW_CONVOKED).reference_2022 == 0.38


async def test_a_reversed_period_is_refused(model):
    with pytest.raises(ValueError):
        await model.facts(date(2023, 2, 1), date(2023, 1, 1))


# ---------------------------------------------------------------- pure definitions


def test_rates_and_2022_references():
    assert rate(3, 4) == 0.75 and rate(0, 0) is None and rate(None, 3) is None
    # the report's own percentages: 98 % oriented, 99 % with an appointment, 60 % within 15 days, 71 % CER, 97 %
    assert round(reference_rate_2022(kpi.ORIENTED_WITHIN_1_MONTH), 2) == 0.98
    assert round(reference_rate_2022(kpi.FIRST_APPOINTMENTS_SET), 2) == 0.99
    assert round(reference_rate_2022(kpi.FIRST_APPOINTMENTS_WITHIN_2_WEEKS), 2) == 0.60
    assert round(reference_rate_2022(kpi.FIRST_CERS), 2) == 0.71
    assert round(reference_rate_2022(kpi.FIRST_CERS_WITHIN_2_MONTHS), 2) == 0.97
    assert reference_rate_2022(kpi.NEW_ENTRANTS) is None


def test_indicator_names_are_the_report_s_own():
    names = {i.key: i.name for i in kpi.INDICATORS}
    assert names[kpi.NEW_ENTRANTS] == "Nombre de nouveaux entrants"
    assert names[kpi.ORIENTED_WITHIN_1_MONTH] == "Nombre de nouveaux entrants orientés en 1 mois et moins"
    assert names[kpi.GLOBAL_START_DELAY] == "Délai moyen du démarrage de l'accompagnement global"
    assert names[kpi.LOST_FROM_VIEW_SANCTIONED].startswith('Taux de BRSA "perdus de vue" convoqués, ne s\'étant pas')
    assert [i.section.value for i in kpi.INDICATORS] == ["a"] * 6 + ["b"] * 2 + ["c"] * 4 + ["d"] * 2 + ["e"] * 2 + ["f"] * 2


def test_report_lines_from_facts():
    facts = KpiFacts(new_entrants=9, oriented_within_1_month=5, first_appointments_set=4,
                     first_appointments_within_2_weeks=3, first_cers=3, first_cers_within_2_months=2)
    report = build_report(facts, *JANUARY)
    line = report.indicator(kpi.FIRST_APPOINTMENTS_WITHIN_2_WEEKS)
    assert (line.count, line.base, line.rate) == (3, 4, 0.75)
    assert report.indicator(kpi.ORIENTED_WITHIN_1_MONTH).rate == pytest.approx(5 / 9)
    assert report.indicator(kpi.NEW_ENTRANTS).rate is None
    assert report.indicator(kpi.GLOBAL_START_DELAY).value is None  # nobody started: no average, not 0


async def test_adopted_pathways_can_be_left_out_of_the_cohort(database_url, db_pool):
    """Issue 19: a pathway adopted from a caseload after its entry is out of the counts with ``exclude_adopted``."""
    schema = await create_schema(db_pool)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        rows = Rows(conn)
        await rows.pathway("native", date(2023, 1, 10))
        await rows.pathway("adopted", date(2023, 1, 12))
        await conn.execute(
            """INSERT INTO caseload_adoptions (person_id, pathway_id, file_digest, row_number, row_digest, source,
                   stage, adopted_on, past_breaches, status)
               VALUES ('person-adopted', 'adopted', 'f', 1, 'r', 'CASELOAD', 'AWAITING_ORIENTATION', '2023-01-20',
                       true, 'started')""")
        assert (await KpiReadModel(conn).facts(*JANUARY, "Arrageois")).new_entrants == 2
        assert (await KpiReadModel(conn, exclude_adopted=True).facts(*JANUARY, "Arrageois")).new_entrants == 1
    finally:
        await conn.close()
