"""``parcours label is-labelled`` and ``parcours label yearly-list``: answers from the label read model."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date

import asyncpg
import pytest_asyncio
from typer.testing import CliRunner

from activities.label import LabelSnapshot, LabelStore
from kpi_rows import create_schema
from workers.cli.app import app
from workers.cli.label import YEARLY_COLUMNS

runner = CliRunner()

# structure id, territory, status, granted_on, expires_on (first day no longer valid), ended_on
LABELS = [
    ("S-VALID", "Arrageois", "LABELLED", date(2021, 3, 1), date(2026, 3, 1), None),
    ("S-EXPIRED", "Lens-Hénin", "EXPIRED", date(2018, 1, 10), date(2023, 1, 10), date(2023, 1, 10)),
    ("S-WITHDRAWN", "Arrageois", "WITHDRAWN", date(2023, 5, 1), date(2028, 5, 1), date(2024, 2, 15)),
    ("S-LATER", "Audomarois", "LABELLED", date(2025, 6, 2), date(2030, 6, 2), None),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def label_url(db_pool, database_url) -> str:
    """DATABASE_URL of a private schema holding only these labels, written by the workflows' own activity."""
    schema = await create_schema(db_pool)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1, server_settings={"search_path": schema})
    try:
        store = LabelStore(pool)
        for structure_id, territory, status, granted_on, expires_on, ended_on in LABELS:
            await store.record_label(LabelSnapshot(
                label_key=f"labelled-{structure_id}:{granted_on.isoformat()}", workflow_id=f"labelled-{structure_id}",
                structure_id=structure_id, territory=territory, status=status, granted_on=granted_on,
                expires_on=expires_on, ended_on=ended_on, end_reason=status.lower() if ended_on else None, version=1,
            ))
    finally:
        await pool.close()
    return f"{database_url}&search_path={schema}"


async def invoke(url: str | None, *args: str):
    """Run the command in a thread: it starts its own event loop with asyncio.run."""
    return await asyncio.to_thread(runner.invoke, app, ["label", *args], env={"DATABASE_URL": url or ""})


async def check(url: str, structure_id: str, on: str):
    result = await invoke(url, "is-labelled", structure_id, "--on", on, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


async def test_labelled_structure_exits_0_with_its_validity(label_url):
    code, answer = await check(label_url, "S-VALID", "2024-06-01")
    assert code == 0
    assert answer == {"structure_id": "S-VALID", "labelled": True, "on": "2024-06-01",
                      "label_valid_until": "2026-02-28", "granted_on": "2021-03-01", "label_status": "LABELLED"}


async def test_validity_bounds_follow_the_read_model(label_url):
    assert (await check(label_url, "S-VALID", "2021-03-01"))[0] == 0
    assert (await check(label_url, "S-VALID", "2021-02-28"))[0] == 1
    assert (await check(label_url, "S-VALID", "2026-02-28"))[0] == 0
    assert (await check(label_url, "S-VALID", "2026-03-01"))[0] == 1
    code, answer = await check(label_url, "S-WITHDRAWN", "2024-02-14")
    assert code == 0 and answer["label_valid_until"] == "2024-02-14" and answer["label_status"] == "WITHDRAWN"
    assert (await check(label_url, "S-WITHDRAWN", "2024-02-15"))[0] == 1


async def test_expired_and_never_labelled_exit_1(label_url):
    for structure_id in ("S-EXPIRED", "S-NEVER"):
        code, answer = await check(label_url, structure_id, "2024-06-01")
        assert code == 1
        assert answer == {"structure_id": structure_id, "labelled": False, "on": "2024-06-01",
                          "label_valid_until": None, "granted_on": None, "label_status": None}


async def test_table_format_says_it_in_one_line(label_url):
    result = await invoke(label_url, "is-labelled", "S-VALID", "--on", "2024-06-01")
    assert result.exit_code == 0
    assert result.stdout.strip() == ("S-VALID: labelled on 2024-06-01 (granted 2021-03-01, valid until 2026-02-28 "
                                     "included, status LABELLED)")
    result = await invoke(label_url, "is-labelled", "S-EXPIRED", "--on", "2024-06-01")
    assert result.exit_code == 1 and result.stdout.strip() == "S-EXPIRED: not labelled on 2024-06-01"


async def test_default_day_is_today(label_url):
    result = await invoke(label_url, "is-labelled", "S-LATER", "--format", "json")
    assert json.loads(result.stdout)["on"] == date.today().isoformat()
    assert result.exit_code == (0 if date(2025, 6, 2) <= date.today() < date(2030, 6, 2) else 1)


async def test_bad_input_exits_2_with_one_line(label_url):
    for args, expected in [
        (["S-VALID", "--on", "2024-02-30"], "--on must be a calendar date YYYY-MM-DD, got '2024-02-30'"),
        (["S-VALID", "--on", "20240601"], "--on must be a calendar date YYYY-MM-DD, got '20240601'"),
        (["S VALID/../x", "--on", "2024-06-01"], "structure id must be 1–64 letters"),
        (["S-VALID", "--format", "xml"], "'--format'"),
    ]:
        result = await invoke(label_url, "is-labelled", *args)
        assert result.exit_code == 2, args
        assert result.stdout == "" and expected in result.stderr and len(result.stderr.splitlines()) == 1


async def test_without_database_url_exits_2_and_unreachable_database_exits_3():
    result = await invoke(None, "is-labelled", "S-VALID")
    assert result.exit_code == 2 and "DATABASE_URL is not set" in result.stderr
    result = await invoke("postgresql://nobody:x@127.0.0.1:1/parcours", "is-labelled", "S-VALID")
    assert result.exit_code == 3 and "cannot reach the database" in result.stderr
    assert len(result.stderr.splitlines()) == 1


# --- yearly list -------------------------------------------------------------------------------------------


async def test_yearly_list_json(label_url):
    result = await invoke(label_url, "yearly-list", "--year", "2023", "--format", "json")
    assert result.exit_code == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["year"] == 2023
    assert listing["granted"] == [{"structure_id": "S-WITHDRAWN", "territory": "Arrageois", "granted_on": "2023-05-01",
                                   "expires_on": "2028-05-01"}]
    assert [(r["structure_id"], r["status"], r["ended_on"]) for r in listing["labelled"]] == [
        ("S-VALID", "LABELLED", None), ("S-WITHDRAWN", "WITHDRAWN", "2024-02-15"),
        ("S-EXPIRED", "EXPIRED", "2023-01-10"),
    ]  # by territory, then structure id; S-LATER is not in 2023


async def test_yearly_list_csv_and_table(label_url):
    result = await invoke(label_url, "yearly-list", "--year", "2025", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == YEARLY_COLUMNS
    assert [(r["list"], r["structure_id"], r["ended_on"]) for r in rows] == [
        ("granted", "S-LATER", ""), ("labelled", "S-VALID", ""), ("labelled", "S-LATER", "")]
    result = await invoke(label_url, "yearly-list", "--year", "2025")
    assert result.exit_code == 0, result.stderr
    assert "Labels accordés en 2025 (1)" in result.stdout and "Structures labellisées en 2025 (2)" in result.stdout
    assert "S-LATER" in result.stdout and "S-WITHDRAWN" not in result.stdout


async def test_yearly_list_bad_year_exits_2(label_url):
    for year in ("abc", "0", "10000"):
        result = await invoke(label_url, "yearly-list", "--year", year)
        assert result.exit_code == 2 and "--year" in result.stderr and len(result.stderr.splitlines()) == 1


async def test_funding_check_exempts_the_configured_caf_and_requires_the_label_from_mid_2026(label_url):
    """G-L23: the CAF (free service) is funded without the label; G-L13: the label is required from 2026-07-01."""
    async def funding(structure_id: str, on: str, exempt: str = ""):
        result = await asyncio.to_thread(
            runner.invoke, app, ["label", "is-labelled", structure_id, "--on", on, "--funding", "--format", "json"],
            env={"DATABASE_URL": label_url, "PARCOURS_LABEL_FUNDING_EXEMPT": exempt})
        return result.exit_code, json.loads(result.stdout)

    code, answer = await funding("CAF-62", "2026-09-01", exempt="CAF-62,CAF-59")
    assert code == 0 and not answer["labelled"] and answer["funding_allowed"]
    assert "G-L23" in answer["funding_reason"]
    code, answer = await funding("CAF-62", "2026-09-01")
    assert code == 1 and answer["funding_reason"] == "not labelled"
    code, answer = await funding("S-EXPIRED", "2026-06-30")
    assert code == 0 and "2026-07-01" in answer["funding_reason"]
    code, answer = await funding("S-LATER", "2026-09-01")
    assert code == 0 and answer["funding_reason"] == "labelled"
    bad = await asyncio.to_thread(runner.invoke, app, ["label", "is-labelled", "S-LATER", "--funding"],
                                  env={"DATABASE_URL": label_url, "PARCOURS_LABEL_FUNDING_EXEMPT": "CAF 62"})
    assert bad.exit_code == 2
