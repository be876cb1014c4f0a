"""``parcours deadline``: the due date and nothing else; bad input exits 2 with one line on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from workers.cli import core as cli_core
from workers.cli.app import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["deadline", *args])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["2024-01-31", "--months", "1"], "2024-02-29"),  # leap year month end
        (["2023-01-31", "--months", "1"], "2023-02-28"),
        (["2025-01-15", "--months", "2"], "2025-03-15"),  # Saturday, service target: not extended
        (["2025-01-15", "--months", "2", "--party"], "2025-03-17"),  # appeal window: Monday
        (["--party", "2025-02-19", "--months", "2"], "2025-04-22"),  # Sat, Sun, Easter Monday -> Tuesday
        (["2025-03-01", "--days", "14"], "2025-03-15"),
        (["2025-03-01", "--days", "14", "--party"], "2025-03-17"),
        (["2025-10-25", "--months", "2", "--party"], "2025-12-26"),  # Christmas
    ],
)
def test_prints_the_due_date_and_nothing_else(args, expected):
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected + "\n"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["2025-02-30", "--days", "1"], "not a calendar date"),
        (["2025-1-5", "--days", "1"], "YYYY-MM-DD"),
        (["15/01/2025", "--days", "1"], "YYYY-MM-DD"),
        (["20250115", "--days", "1"], "YYYY-MM-DD"),  # accepted by date.fromisoformat, not by us
        (["2025-01-15"], "exactly one of"),
        (["2025-01-15", "--months", "1", "--days", "3"], "exactly one of"),
        (["2025-01-15", "--months", "-1"], "negative"),
        (["2025-01-15", "--days", "-14", "--party"], "negative"),
        (["2025-01-15", "--days", "0"], "months or days"),
        (["2025-01-15", "--days", "abc"], "--days"),
        (["2025-01-15", "--days"], "--days"),
        (["--days", "3"], "START"),
        (["2025-01-15", "--days", "3", "--weeks", "2"], "--weeks"),
        (["2025-01-15", "--days", "3", "extra"], "extra"),
        (["9999-12-31", "--days", "1"], "range"),
        (["2025-01-15", "--days", "99999999999"], "range"),
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr(args, mentions):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert mentions in lines[0]
    assert "Traceback" not in result.stderr and "Usage" not in result.stderr


def test_help_still_works():
    result = run("--help")
    assert result.exit_code == 0
    assert "--party" in result.stdout


def test_register_attaches_the_command_to_any_app():
    fresh = typer.Typer()
    cli_core.register(fresh)

    @fresh.command("noop")
    def noop() -> None:  # a second command makes typer build a group, as in workers.cli.app
        pass

    result = runner.invoke(fresh, ["deadline", "2024-01-31", "--months", "1"])
    assert result.stdout == "2024-02-29\n"


def _console_script() -> Path:
    script = Path(sys.executable).with_name("parcours")
    if not script.exists():
        script = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "parcours"
    return script


def test_installed_console_script():
    script = _console_script()
    assert script.exists(), f"console script not installed at {script}"
    ok = subprocess.run(
        [str(script), "deadline", "2025-03-01", "--months", "2", "--party"], capture_output=True, text=True, timeout=60
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "2025-05-02\n", "")  # 1 May -> Friday 2 May
    bad = subprocess.run(
        [str(script), "deadline", "2025-02-30", "--days", "1"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1
