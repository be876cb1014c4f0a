"""``parcours flux import --dry-run`` and ``parcours flux generate``: exact JSON, exit codes, no personal data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.cnaf_parser import file_digest
from workers.cli.app import app

FIXTURES = Path(__file__).parent / "fixtures" / "flux"
runner = CliRunner()


def dry_run_json(path: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["flux", "import", str(path), "--dry-run", "--format", "json", *extra])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_dry_run_json_on_a_valid_file():
    assert dry_run_json(FIXTURES / "valid.xml") == {
        "households": 4, "persons": 6, "subject_to_duties": 4, "subject_to_duties_unknown": 0, "rejected": [],
        "warnings": [],
    }


def test_dry_run_json_lists_rejections_by_position_and_exits_0():
    output = dry_run_json(FIXTURES / "rejections.xml")
    assert list(output) == ["households", "persons", "subject_to_duties", "subject_to_duties_unknown", "rejected",
                            "warnings"]
    assert (output["households"], output["persons"], output["subject_to_duties"]) == (4, 4, 4)
    assert [r["position"] for r in output["rejected"]] == [2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14]
    assert [w["position"] for w in output["warnings"]] == [6, 7]  # unknown codes: kept, warned
    assert all(set(r) == {"position", "reason"} for r in output["rejected"])
    assert output["rejected"][0]["reason"].startswith("bad_nir: ")
    text = json.dumps(output, ensure_ascii=False)
    for personal in ("185056204112317", "1850562041123", "ROBERT", "SIMON", "1985-05-12", "2000002"):
        assert personal not in text


def test_dry_run_on_truncated_and_duplicate_files():
    truncated = dry_run_json(FIXTURES / "truncated.xml")
    assert truncated["households"] == 2
    assert [(r["position"], r["reason"].split(":")[0]) for r in truncated["rejected"]] == [(3, "truncated_file")]
    duplicates = dry_run_json(FIXTURES / "duplicates.xml")
    assert [(r["position"], r["reason"].split(":")[0]) for r in duplicates["rejected"]] == [
        (3, "duplicate_household"), (4, "duplicate_household")]


def test_dry_run_on_a_csv_list_with_its_mapping():
    output = dry_run_json(FIXTURES / "new_entrants.csv", "--mapping", str(FIXTURES / "new_entrants_mapping.toml"))
    assert (output["households"], output["persons"], output["subject_to_duties"]) == (2, 3, 2)
    assert [r["position"] for r in output["rejected"]] == [4, 5, 6, 7, 8]


@pytest.mark.parametrize("content", [None, b"", b"\x00\x01 binary junk", b"<?xml version='1.0'?><Other/>"])
def test_unreadable_file_exits_2_with_one_line(tmp_path, content):
    path = tmp_path / "flux.xml"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["flux", "import", str(path), "--dry-run", "--format", "json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("parcours flux import: ")


def test_table_format_prints_a_summary():
    result = runner.invoke(app, ["flux", "import", str(FIXTURES / "rejections.xml"), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "households accepted" in result.stdout and "unknown_moticlorsa" in result.stdout
    assert "ROBERT" not in result.stdout + result.stderr


def test_import_without_dry_run_of_a_missing_file_exits_2(tmp_path):
    # The import itself runs as a workflow: tests/test_flux_import_schedule.py drives it through the CLI.
    result = runner.invoke(app, ["flux", "import", str(tmp_path / "missing.xml")])
    assert result.exit_code == 2
    assert result.stderr.startswith("parcours flux import: cannot open missing.xml")
    assert result.stderr.count("\n") == 1


def test_generate_then_dry_run(tmp_path):
    out = tmp_path / "demo.xml"
    args = ["flux", "generate", "--households", "60", "--seed", "9", "--invalid-share", "0.2",
            "--flow-date", "2024-03-15", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "wrote 60 households" in result.stdout and "12 invalid" in result.stdout
    output = dry_run_json(out)
    assert output["households"] == 48 and len(output["rejected"]) == 12
    first = file_digest(out)
    assert runner.invoke(app, args).exit_code == 0
    assert file_digest(out) == first  # seeded: same arguments, same file


def test_generate_rejects_bad_arguments(tmp_path):
    result = runner.invoke(app, ["flux", "generate", "--households", "5", "--seed", "1", "--invalid-share", "2",
                                 str(tmp_path / "x.xml")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    result = runner.invoke(app, ["flux", "generate", "--households", "5", "--seed", "1", "--flow-date", "15/03/2024",
                                 str(tmp_path / "x.xml")])
    assert result.exit_code == 2 and "--flow-date" in result.stderr
