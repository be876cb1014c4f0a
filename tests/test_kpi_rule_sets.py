"""``parcours report kpi --by-rule-set``: the indicators split by the pathways' rule set, naming the contract."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date

import asyncpg
import pytest_asyncio
from typer.testing import CliRunner

from activities.kpi import KpiReadModel
from kpi_rows import Rows, create_schema
from workers.cli.app import app

runner = CliRunner()
MARCH = ["--from", "2025-03-01", "--to", "2025-03-31"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def report_url(db_pool, database_url) -> str:
    """One 2023 case (entered before 2025, first CER) and two 2025 cases (one with a first contract) in March."""
    schema = await create_schema(db_pool)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        rows = Rows(conn)
        await rows.pathway("old", date(2025, 3, 3), oriented=date(2025, 3, 10), rule_set="2023.1")
        await rows.cer("old", date(2025, 3, 20))
        await rows.pathway("new-1", date(2025, 3, 4), oriented=date(2025, 3, 12), rule_set="2025.1")
        await rows.cer("new-1", date(2025, 3, 25))
        await rows.pathway("new-2", date(2025, 3, 5), rule_set="2025.1")
    finally:
        await conn.close()
    return f"{database_url}&search_path={schema}"


async def invoke(url: str, *args: str):
    return await asyncio.to_thread(runner.invoke, app, ["report", "kpi", *args], env={"DATABASE_URL": url})


def counts(indicators: list[dict]) -> dict[str, int | None]:
    return {line["key"]: line["count"] for line in indicators
            if line["key"] in ("new_entrants", "oriented_within_1_month", "first_cers")}


async def test_json_splits_the_indicators_by_rule_set_and_names_the_contract(report_url):
    result = await invoke(report_url, *MARCH, "--format", "json", "--by-rule-set")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert counts(out["indicators"]) == {"new_entrants": 3, "oriented_within_1_month": 2, "first_cers": 2}
    split = {part["rule_set"]: part for part in out["by_rule_set"]}
    assert {v: p["contract_kind"] for v, p in split.items()} == {"2023.1": "CER", "2025.1": "CONTRAT_ENGAGEMENT"}
    assert counts(split["2023.1"]["indicators"]) == {"new_entrants": 1, "oriented_within_1_month": 1, "first_cers": 1}
    assert counts(split["2025.1"]["indicators"]) == {"new_entrants": 2, "oriented_within_1_month": 1, "first_cers": 1}


async def test_without_the_flag_the_report_is_unchanged(report_url):
    result = await invoke(report_url, *MARCH, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "by_rule_set" not in json.loads(result.stdout)
    plain = await invoke(report_url, *MARCH, "--format", "csv")
    assert next(csv.reader(io.StringIO(plain.stdout)))[0] == "section"


async def test_csv_and_table_name_the_rule_set(report_url):
    result = await invoke(report_url, *MARCH, "--format", "csv", "--by-rule-set")
    assert result.exit_code == 0, result.stderr
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    entrants = {(line["rule_set"], line["contract_kind"]): line["count"] for line in lines
                if line["key"] == "new_entrants"}
    assert entrants == {("all", ""): "3", ("2023.1", "CER"): "1", ("2025.1", "CONTRAT_ENGAGEMENT"): "2"}
    table = await invoke(report_url, *MARCH, "--by-rule-set")
    assert table.exit_code == 0, table.stderr
    assert "Règles 2025.1" in table.stdout and "CONTRAT_ENGAGEMENT" in table.stdout


async def test_the_read_model_filters_by_rule_set(report_url, database_url):
    schema = report_url.rsplit("search_path=", 1)[1]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        model = KpiReadModel(conn)
        both = await model.facts(date(2025, 3, 1), date(2025, 3, 31))
        old = await model.facts(date(2025, 3, 1), date(2025, 3, 31), None, "2023.1")
        new = await model.facts(date(2025, 3, 1), date(2025, 3, 31), None, "2025.1")
    finally:
        await conn.close()
    assert (both.new_entrants, old.new_entrants, new.new_entrants) == (3, 1, 2)
    assert (old.first_cers, new.first_cers) == (1, 1)
