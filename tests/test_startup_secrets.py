"""Production processes refuse to start without real secrets; ``parcours keys env`` generates all of them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import date

import pytest
from typer.testing import CliRunner

from workers.api.auth import TOKENS_ENV_VAR as API_TOKENS_VAR
from workers.api.auth import load_api_tokens
from workers.cli.app import app as cli_app
from workers.codec_server import TOKENS_ENV_VAR as CODEC_TOKENS_VAR
from workers.codec_server import load_codec_tokens
from workers.runtime.config import (
    DEV_PERSON_ID_SECRET,
    PERSON_ID_SECRET_VAR,
    ConfigError,
    check_person_id_secret,
)
from workers.dev.embedded import free_port
from workers.runtime.keys import ENV_VAR as KEYS_VAR
from workers.runtime.keys import Keyring, load_keyring
from workers.cli.production_env import TO_FILL_IN, production_env

SECRET_VARS = (PERSON_ID_SECRET_VAR, KEYS_VAR, API_TOKENS_VAR, CODEC_TOKENS_VAR)
GOOD_SECRET = "s" * 40


def _env(home, **values: str) -> dict[str, str]:
    """The test process's environment without any secret, pointing at an unreachable Temporal/PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env.update(PARCOURS_HOME=str(home), TEMPORAL_ADDRESS="127.0.0.1:1", DATABASE_URL="postgresql://x@127.0.0.1:1/x",
               PARCOURS_LOG_FORMAT="json", **values)
    return env


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workers.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("command, required", [
    (["worker"], [PERSON_ID_SECRET_VAR, KEYS_VAR]),
    (["api", "--port", "0"], [PERSON_ID_SECRET_VAR, KEYS_VAR, API_TOKENS_VAR]),
    (["codec-server", "--port", "0"], [KEYS_VAR, CODEC_TOKENS_VAR]),
])
def test_each_service_refuses_to_start_without_its_secrets_and_names_them_all(tmp_path, command, required):
    result = _run(*command, env=_env(tmp_path))
    assert result.returncode == 2, result.stderr
    for variable in required:
        assert variable in result.stderr
    assert "cannot start" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no dev file invented in production mode


@pytest.mark.parametrize("secret, reason", [
    (DEV_PERSON_ID_SECRET, "development value"),
    ("short-secret", "too short"),
    ("   ", "not set"),
])
def test_worker_refuses_the_dev_or_a_weak_person_id_secret(tmp_path, secret, reason):
    keys = Keyring.generate("k1").to_spec()
    result = _run("worker", env=_env(tmp_path, **{PERSON_ID_SECRET_VAR: secret, KEYS_VAR: keys}))
    assert result.returncode == 2
    assert PERSON_ID_SECRET_VAR in result.stderr and reason in result.stderr
    assert KEYS_VAR not in result.stderr  # only what is wrong is named


def test_api_refuses_the_dev_person_id_secret_even_with_keys_and_tokens(tmp_path):
    generated = _generated()
    env = _env(tmp_path, **{KEYS_VAR: generated[KEYS_VAR], API_TOKENS_VAR: generated[API_TOKENS_VAR],
                            PERSON_ID_SECRET_VAR: DEV_PERSON_ID_SECRET})
    result = _run("api", "--port", str(free_port()), env=env)
    assert result.returncode == 2 and PERSON_ID_SECRET_VAR in result.stderr


def test_dev_flag_accepts_the_dev_defaults(tmp_path):
    """--dev gets past the secret checks (keys created in PARCOURS_HOME); it then fails on Temporal, not exit 2."""
    result = _run("worker", "--dev", env=_env(tmp_path))
    assert result.returncode not in (0, 2), result.stderr
    assert "cannot start" not in result.stderr
    assert (tmp_path / "keys").exists()


def test_person_id_secret_check():
    assert check_person_id_secret({PERSON_ID_SECRET_VAR: f" {GOOD_SECRET} "}) == GOOD_SECRET
    for value in ("", DEV_PERSON_ID_SECRET, "x" * 31):
        with pytest.raises(ConfigError, match=PERSON_ID_SECRET_VAR):
            check_person_id_secret({PERSON_ID_SECRET_VAR: value})


def _generated(*args: str) -> dict[str, str]:
    result = CliRunner().invoke(cli_app, ["keys", "env", *args])
    assert result.exit_code == 0, result.output
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if line and not line.startswith("#"))


def test_keys_env_generates_every_secret_the_services_accept():
    first, second = _generated("--api-service", "rdv-insertion", "--api-service", "gip"), _generated()
    environ = {k: v for k, v in first.items() if v}
    assert check_person_id_secret(environ) == first[PERSON_ID_SECRET_VAR]
    assert load_keyring(None, environ=environ).ids
    api = load_api_tokens(None, environ=environ)
    assert {caller.service for _, caller in api.entries} == {"rdv-insertion", "gip"}
    codec = load_codec_tokens(None, environ=environ)
    assert codec.who(first[CODEC_TOKENS_VAR].split(":", 1)[1]) == "ops"
    for name in ("TEMPORAL_DB_PASSWORD", "PARCOURS_DB_PASSWORD", *SECRET_VARS):
        assert len(first[name]) >= 32 and first[name] != second[name]  # fresh each time
    for name, _ in TO_FILL_IN:  # left empty so that compose's ${VAR:?} stops until they are filled in
        assert first[name] == ""


def test_keys_env_writes_a_private_file_and_never_overwrites(tmp_path):
    target = tmp_path / ".env"
    runner = CliRunner()
    assert runner.invoke(cli_app, ["keys", "env", "--output", str(target)]).exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    before = target.read_text()
    again = runner.invoke(cli_app, ["keys", "env", "--output", str(target)])
    assert again.exit_code == 2 and target.read_text() == before
    assert PERSON_ID_SECRET_VAR in before


def test_keys_env_refuses_an_invalid_service_name():
    assert CliRunner().invoke(cli_app, ["keys", "env", "--api-service", "bad name"]).exit_code == 2
    assert "PARCOURS_CODEC_TOKENS=ops:" in production_env()


def test_client_commands_never_invent_a_key(tmp_path):
    """Outside a ``parcours dev`` home, ``flux import`` and ``schedule`` need PARCOURS_ENCRYPTION_KEYS: a key made
    up on the spot would encrypt workflow inputs no worker can read."""
    from activities.flux_generator import generate_flux

    source = tmp_path / "flux.xml"
    generate_flux(source, households=2, seed=1, flow_date=date(2025, 6, 2))
    home = tmp_path / "home"
    env = _env(home, PARCOURS_DROP_DIR=str(tmp_path / "drop"))
    for command in (["flux", "import", str(source)], ["schedule", "install"]):
        result = _run(*command, env=env)
        assert result.returncode == 1 and KEYS_VAR in result.stderr, result.stderr
    assert not (home / "keys").exists()
