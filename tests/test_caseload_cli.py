"""`parcours caseload import --dry-run` (issue 19): CSV and XLSX through a mapping, or the field names as headers;
counts by stage and every rejected row with its reason, in a table or JSON; nothing started, no NIR printed."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from openpyxl import Workbook
from typer.testing import CliRunner

from activities.caseload_generator import HEADERS, caseload_rows, write_caseload_csv
from activities.cnaf_parser import file_digest
from domain.caseload import ADDED_FIELDS, ADOPTABLE_STAGES, CASELOAD_FIELDS
from domain.deadlines import paris_date
from domain.pathway import FlowRecord
from tests.flux_import_harness import enc_client  # noqa: F401  (session fixture)
from workers.cli.app import app

MAPPING = Path(__file__).parent / "fixtures" / "caseload" / "mapping.toml"
TODAY = paris_date(datetime.now(timezone.utc))
BAD = {"nir": "1850575123456", "territory": "T1", "stage": "AWAITING_ORIENTATION", "caf_transmission_date": "01/01/2026",
       "referent_structure": "S1"}


def _run(*args: str) -> dict:
    result = CliRunner().invoke(app, ["caseload", "import", *args, "--dry-run", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "1850575123456" not in result.output
    return json.loads(result.output)


def test_dry_run_counts_by_stage_and_lists_rejections(tmp_path):
    count = 10 * len(ADOPTABLE_STAGES)
    rows = caseload_rows(count, TODAY)
    path = write_caseload_csv(tmp_path / "c.csv", [*rows, BAD])
    summary = _run(str(path), "--mapping", str(MAPPING))
    assert summary["stages"] == {s.value: 10 for s in ADOPTABLE_STAGES}
    assert (summary["rows"], summary["adopted"], summary["rejected"]) == (count + 1, count, 1)
    assert summary["rejections"][0] | {"reason": ""} == {"row": count + 1, "code": "REFERENT_WITHOUT_ORIENTATION", "reason": ""}


def test_xlsx_and_default_headers_read_the_same(tmp_path):
    rows = caseload_rows(14, TODAY)
    book = Workbook()
    sheet = book.active
    sheet.append([HEADERS[f] for f in CASELOAD_FIELDS])
    for row in rows:
        sheet.append([row.get(f) or None for f in CASELOAD_FIELDS])
    book.save(tmp_path / "c.xlsx")
    plain = tmp_path / "plain.csv"
    with open(plain, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(CASELOAD_FIELDS)
        writer.writerows([[row.get(f, "") for f in CASELOAD_FIELDS] for row in rows])
    assert _run(str(tmp_path / "c.xlsx"), "--mapping", str(MAPPING))["adopted"] == 14
    assert _run(str(plain))["adopted"] == 14


def test_a_file_without_the_later_columns_still_reads_without_a_mapping(tmp_path):
    """A file headed by the first release's fields (no platform, CAF-route or review column) reads as before."""
    rows = [r for r in caseload_rows(10 * len(ADOPTABLE_STAGES), TODAY) if not set(r) & set(ADDED_FIELDS)]
    first = [f for f in CASELOAD_FIELDS if f not in ADDED_FIELDS]
    plain = tmp_path / "first.csv"
    with open(plain, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(first)
        writer.writerows([[row.get(f, "") for f in first] for row in rows])
    assert _run(str(plain))["adopted"] == len(rows) > 0
    result = CliRunner().invoke(app, ["caseload", "import", str(plain), "--mapping", str(MAPPING), "--dry-run"])
    assert result.exit_code == 2 and "Date premier rendez-vous" in result.output  # a mapped column stays required


def test_an_unreadable_file_is_one_line(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a;b\n1;2\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["caseload", "import", str(path), "--mapping", str(MAPPING), "--dry-run"])
    assert result.exit_code == 2 and "not in the header" in result.output


async def test_import_starts_the_workflow_and_reports_rejections(enc_client, db_pool, database_url, test_keyring,
                                                                 task_queue, unique_id, tmp_path, monkeypatch):
    import asyncio
    import hashlib

    from tests.caseload_import_harness import build_worker

    secret = f"caseload-cli-{hashlib.sha256(unique_id.encode()).hexdigest()}"
    rows = caseload_rows(7, TODAY, seed=int(unique_id[:6], 16))
    path = write_caseload_csv(tmp_path / "c.csv", [*rows, BAD])
    for name, value in {"TEMPORAL_ADDRESS": enc_client.service_client.config.target_host,
                        "TEMPORAL_NAMESPACE": enc_client.namespace, "TEMPORAL_TASK_QUEUE": task_queue,
                        "DATABASE_URL": database_url, "PARCOURS_ENCRYPTION_KEYS": test_keyring.to_spec(),
                        "PARCOURS_PERSON_ID_SECRET": secret, "PARCOURS_DROP_DIR": str(tmp_path / "drop")}.items():
        monkeypatch.setenv(name, value)
    args = ["caseload", "import", str(path), "--mapping", str(MAPPING), "--format", "json"]
    async with build_worker(enc_client, task_queue, db_pool, secret.encode()):
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["status"], summary["adopted"], summary["rejected"]) == ("done", 7, 1)
    assert [(r["row"], r["code"]) for r in summary["rejections"]] == [(8, "REFERENT_WITHOUT_ORIENTATION")]
    assert summary["workflow_id"].startswith("caseload-import-") and "1850575123456" not in result.output

    # --dry-run --update judges as the import: a changed row whose pathway lived since its adoption is refused.
    adopted = {r["row_number"]: r["pathway_id"] for r in await db_pool.fetch(
        "SELECT row_number, pathway_id FROM caseload_adoptions WHERE file_digest = $1", file_digest(path))}
    await enc_client.get_workflow_handle(adopted[1]).signal(
        "flow_record", FlowRecord(event_id="moved-1", transmission_date=TODAY, subject_to_duties=True))
    update = write_caseload_csv(tmp_path / "u.csv", [dict(rows[0], territory="T9"), dict(rows[1], territory="T9"),
                                                     *rows[2:]])
    dry = await asyncio.to_thread(_run, str(update), "--mapping", str(MAPPING), "--update")
    assert [(o["row"], o["outcome"], o["code"]) for o in dry["outcomes"]] == [
        (1, "rejected", "PATHWAY_MOVED"), (2, "updated", None), *((n, "unchanged", None) for n in range(3, 8))]
    assert await db_pool.fetchval("SELECT territory FROM pathways WHERE pathway_id = $1", adopted[2]) != "T9"
    for row in await db_pool.fetch("SELECT pathway_id FROM caseload_adoptions WHERE file_digest = $1",
                                   summary["workflow_id"].removeprefix("caseload-import-")):
        await enc_client.get_workflow_handle(row["pathway_id"]).terminate("test over")
