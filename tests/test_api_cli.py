"""``parcours api``: the real process, against the dev server and PostgreSQL of the test session."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from workers.api.auth import DEV_TOKENS_FILE, TOKENS_ENV_VAR, dev_token
from workers.dev.embedded import free_port, stop_process, wait_for_port
from workers.runtime.keys import ENV_VAR as KEYS_ENV_VAR


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (TOKENS_ENV_VAR, KEYS_ENV_VAR, "DATABASE_URL", "PARCOURS_HOME")}
    env.update(values)
    return env


def _parcours(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workers.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def test_production_mode_refuses_to_start_without_tokens(tmp_path):
    process = _parcours("api", "--port", str(free_port()), env=_env(
        PARCOURS_HOME=str(tmp_path), **{KEYS_ENV_VAR: "k1:" + "A" * 43 + "="}))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert TOKENS_ENV_VAR in output.decode()
    assert not (tmp_path / DEV_TOKENS_FILE).exists()


async def test_dev_mode_serves_the_api_with_the_dev_token(tmp_path, dev_env, database_url):
    port = free_port()
    process = _parcours("api", "--dev", "--port", str(port), env=_env(
        PARCOURS_HOME=str(tmp_path),
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=dev_env.client.namespace,
        PARCOURS_LOG_FORMAT="json",
    ))
    try:
        wait_for_port(port, process, timeout=60)
        token = dev_token(tmp_path)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            document = await client.get("/openapi.json")
            assert document.status_code == 200 and "/v1/pathways" in document.json()["paths"]
            refused = await client.get(f"/v1/pathways/pathway-{uuid.uuid4().hex}")
            assert refused.status_code == 401
            missing = await client.get(f"/v1/pathways/pathway-{uuid.uuid4().hex}",
                                       headers={"Authorization": f"Bearer {token}"})
            assert missing.status_code == 404  # answered by the Temporal server: the client is connected
    finally:
        stop_process(process, timeout=15)
    output = process.stdout.read().decode()
    assert token not in output
    assert '"api_request"' in output and "/v1/pathways/{pathway_id}" in output
