"""``parcours report kpi``: the table, csv and json formats, the charts and the one-line errors."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import asyncpg
import pytest
import pytest_asyncio
from typer.testing import CliRunner

from kpi_rows import Rows, create_schema, seed_scenario
from workers.cli.app import app
from workers.cli.report import CSV_COLUMNS

runner = CliRunner()
JANUARY = ["--from", "2023-01-01", "--to", "2023-01-31"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def report_url(db_pool, database_url) -> str:
    """DATABASE_URL of a private schema holding the constructed scenario (asyncpg passes search_path on)."""
    schema = await create_schema(db_pool)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        await seed_scenario(Rows(conn))
    finally:
        await conn.close()
    return f"{database_url}&search_path={schema}"


async def invoke(url: str | None, *args: str):
    """Run the command in a thread: it starts its own event loop with asyncio.run."""
    env = {"DATABASE_URL": url or ""}
    return await asyncio.to_thread(runner.invoke, app, ["report", "kpi", *args], env=env)


async def test_json_format(report_url):
    result = await invoke(report_url, *JANUARY, "--territory", "Arrageois", "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["from"], out["to"], out["territory"]) == ("2023-01-01", "2023-01-31", "Arrageois")
    lines = {line["key"]: line for line in out["indicators"]}
    assert list(lines) == [
        "new_entrants", "oriented_within_1_month", "first_appointments_set", "first_appointments_within_2_weeks",
        "first_cers", "first_cers_within_2_months", "garantie_oriented", "garantie_in_progress",
        "global_accompaniment_oriented", "global_accompaniment_start_delay", "global_accompaniment_in_progress",
        "global_accompaniment_per_counsellor", "socio_pro_oriented", "socio_pro_in_progress",
        "lost_from_view_convoked", "lost_from_view_sanctioned", "plie_in_progress", "plie_oriented",
    ]
    oriented = lines["oriented_within_1_month"]
    assert (oriented["count"], oriented["base"], oriented["reference_2022"], oriented["target_2022"]) == (5, 9, 5950, 5525)
    assert oriented["rate"] == pytest.approx(5 / 9)
    assert oriented["reference_2022_rate"] == pytest.approx(5950 / 6060)
    assert oriented["name"] == "Nombre de nouveaux entrants orientés en 1 mois et moins"
    assert lines["global_accompaniment_start_delay"]["value"] == pytest.approx(15.5)
    assert {"days": 29, "within": 0, "late": 2} in out["orientation_delays"]


async def test_csv_format(report_url):
    result = await invoke(report_url, *JANUARY, "--territory", "Arrageois", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_key = {row["key"]: row for row in rows}
    assert len(rows) == 18
    within = by_key["first_appointments_within_2_weeks"]
    assert (within["section"], within["count"], within["base"], within["rate"]) == ("a", "3", "4", "0.7500")
    assert within["reference_2022"] == "3612" and within["reference_2022_rate"] == "0.6047"
    assert by_key["global_accompaniment_start_delay"]["value"] == "15.5"
    assert by_key["lost_from_view_convoked"]["reference_2022"] == "0.38"


async def test_table_format_all_territories(report_url):
    result = await invoke(report_url, *JANUARY)
    assert result.exit_code == 0, result.stderr
    assert "tous territoires" in result.stdout
    assert "6\u202f060" in result.stdout  # 2022 new entrants beside ours
    assert "60,0 %" in result.stdout  # 6 of 10 new entrants oriented within the month, all territories
    assert "15,5 j" in result.stdout


async def test_html_chart(report_url, tmp_path):
    chart = tmp_path / "delais.html"
    result = await invoke(report_url, *JANUARY, "--territory", "Arrageois", "--format", "json", "--chart", str(chart))
    assert result.exit_code == 0, result.stderr
    page = chart.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page
    assert "7 orientations de nouveaux entrants" in page and "5 en 1 mois et moins" in page
    assert page.count('class="bar within"') == 4 and page.count('class="bar late"') == 1  # days 15 20 26 28 | 29
    assert "29 j : 2 au-delà du mois" in page
    assert 'class="target"' in page


async def test_png_chart(report_url, tmp_path):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "delais.png"
    result = await invoke(report_url, *JANUARY, "--chart", str(chart))
    assert result.exit_code == 0, result.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (JANUARY, "DATABASE_URL is not set"),
])
async def test_database_url_is_required(args, message):
    result = await invoke(None, *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--from", "2023-02-01", "--to", "2023-01-01"], "--to is before --from"),
    (["--from", "01/01/2023", "--to", "2023-01-31"], "--from must be a date YYYY-MM-DD"),
    ([*JANUARY, "--chart", "delais.svg"], "--chart must end in .png or .html"),
    ([*JANUARY, "--format", "xml"], "--format"),
    (["--to", "2023-01-31"], "--from"),
])
async def test_usage_errors_are_one_line(report_url, args, message):
    result = await invoke(report_url, *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


async def test_missing_tables_are_reported(database_url):
    result = await invoke(f"{database_url}&search_path=no_such_schema", *JANUARY)
    assert result.exit_code == 1
    assert "database error" in result.stderr and "parcours db migrate" in result.stderr
