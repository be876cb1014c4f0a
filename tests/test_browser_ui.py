"""The Temporal Web UI as ops staff use it (issue 6, item 7), in headless Chromium driven by Playwright.

``parcours dev --demo 5`` runs on free ports. Through the UI we filter pathways by search attributes, open
one, and read its input decoded by the codec server (and audited). Then a second Temporal dev server, started
on a snapshot of the same history database WITHOUT ``--ui-codec-endpoint``, shows the same page: the input is
the ciphertext stored by Temporal, nothing readable.

Chromium comes from Debian (``apt-get install chromium chromium-driver``), Playwright from PyPI (dev extras);
``playwright install`` is never run: the Debian binary is used through ``executable_path``. The tests skip
only when that browser cannot start.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright, expect
from temporalio.client import Client

from workers.runtime.converter import data_converter
from workers.dev.embedded import PG_DATABASE, free_port, stop_process, temporal_dev_server_command, wait_for_port
from workers.runtime.keys import load_keyring
from workflows import search_attributes as sa
from workflows.search_attributes import cli_search_attribute_types

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
NAMESPACE = "parcours-rsa"
PATHWAY_TYPE = "BeneficiaryPathway"
LISTED_STAGE = "AWAITING_ORIENTATION"  # where a demo household subject to duties waits after the flow import
UI_TIMEOUT_MS = 30_000
_PATHWAY_LINK = re.compile(r"^pathway-[0-9a-f]{32}$")
_ENV_SET_BY_DEV = ("TEMPORAL_ADDRESS", "DATABASE_URL", "MONJOB62_URL", "PARCOURS_ENCRYPTION_KEYS",
                   "PARCOURS_CODEC_TOKENS", "PARCOURS_API_TOKENS")


async def _launch(playwright, profile: Path):
    """A fresh Chromium profile each time; a launch failure is the one reason to skip."""
    try:
        return await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )
    except PlaywrightError as err:
        pytest.skip(f"Chromium cannot start ({CHROMIUM}): {err.message.splitlines()[0] if err.message else err}")


@pytest.fixture(scope="module")
async def chromium_starts(tmp_path_factory) -> None:
    """Probe once, before the (slow) dev stack is started for nothing."""
    async with async_playwright() as playwright:
        context = await _launch(playwright, tmp_path_factory.mktemp("chromium-probe"))
        await context.close()


@pytest.fixture
async def browser(chromium_starts, tmp_path):
    async with async_playwright() as playwright:
        context = await _launch(playwright, tmp_path / "chromium-profile")
        try:
            yield context
        finally:
            await context.close()


@dataclass
class DevDemo:
    home: Path
    ports: dict[str, int]
    process: subprocess.Popen
    output: list[str]

    @property
    def ui(self) -> str:
        return f"http://localhost:{self.ports['ui']}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports['grpc']}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports['pg']}/{PG_DATABASE}?sslmode=disable"


def _read_lines(stream, into: "queue.Queue[str | None]") -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@pytest.fixture(scope="module")
def dev_demo(chromium_starts, tmp_path_factory) -> DevDemo:
    """``parcours dev --demo 5`` on free ports, until its demo import is done; stopped (Ctrl-C) at the end."""
    home = tmp_path_factory.mktemp("browser-ui") / "home"
    ports = {name: free_port() for name in ("grpc", "ui", "pg", "codec", "metrics", "api", "monjob")}
    env = {k: v for k, v in os.environ.items() if k not in _ENV_SET_BY_DEV}
    env.update(PARCOURS_HOME=str(home), COLUMNS="200")
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "dev", "--demo", "5", "--port", str(ports["grpc"]),
         "--ui-port", str(ports["ui"]), "--pg-port", str(ports["pg"]), "--codec-port", str(ports["codec"]),
         "--metrics-port", str(ports["metrics"]), "--api-port", str(ports["api"]),
         "--monjob-port", str(ports["monjob"])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    output: list[str] = []
    demo = DevDemo(home, ports, process, output)
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail("parcours dev --demo did not finish its import:\n" + "".join(output))
            output.append(line)
            if "--demo: import done" in line:
                break
        yield demo
    finally:
        _stop_dev(process)


def _stop_dev(process: subprocess.Popen) -> None:
    """Ctrl-C as a user would; anything of ours still alive after that is killed."""
    if process.poll() is not None:
        return
    family = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    _, alive = psutil.wait_procs(family, timeout=10)
    for child in alive:
        child.kill()


async def _pathways_by_stage(client: Client, timeout: float = 60) -> dict[str, str]:
    """Pathway id → Stage, once every demo pathway has upserted its Stage (visibility is eventually consistent)."""
    deadline = time.monotonic() + timeout
    while True:
        stages = {}
        async for execution in client.list_workflows(f'WorkflowType="{PATHWAY_TYPE}"'):
            stages[execution.id] = execution.typed_search_attributes.get(sa.STAGE)
        if stages and all(stages.values()):
            return stages
        if time.monotonic() > deadline:
            pytest.fail(f"demo pathways without a Stage search attribute after {timeout} s: {stages}")
        await asyncio.sleep(0.5)


async def _started_input(client: Client, workflow_id: str):
    """The first input payload of the workflow's start event, as stored by Temporal."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return started.input.payloads[0]


def _workflows_url(ui: str, query: str) -> str:
    return f"{ui}/namespaces/{NAMESPACE}/workflows?query={urllib.parse.quote(query)}"


def _input_box(page):
    return page.get_by_test_id("input-and-result").get_by_role("textbox", name="Input", exact=True)


async def _audit_rows(database_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetch("SELECT * FROM codec_audit ORDER BY id")
    finally:
        await connection.close()


async def test_ui_filters_pathways_by_search_attribute_and_shows_the_input_decoded_by_the_codec_server(
    dev_demo: DevDemo, browser, tmp_path
):
    keyring = load_keyring(dev_demo.home)
    client = await Client.connect(dev_demo.temporal_address, namespace=NAMESPACE,
                                  data_converter=data_converter(keyring))
    stages = await _pathways_by_stage(client)
    listed = sorted(wid for wid, stage in stages.items() if stage == LISTED_STAGE)
    assert listed, f"no demo pathway in {LISTED_STAGE}: {stages}"
    unused_stage = next(s for s in ("CER_ACTIVE", "BILAN", "SANCTION_PROCEDURE") if s not in stages.values())
    flux_imports = (await client.count_workflows('WorkflowType="FluxImport"')).count
    assert flux_imports >= 1  # present in the namespace, so its absence from the filtered list means something

    page = await browser.new_page()
    codec_calls: list[str] = []
    page.on("request", lambda r: codec_calls.append(r.url) if f":{dev_demo.ports['codec']}/" in r.url else None)

    # Filter by search attributes: exactly the pathways in that stage, no other workflow.
    await page.goto(_workflows_url(dev_demo.ui, f'WorkflowType="{PATHWAY_TYPE}" AND Stage="{LISTED_STAGE}"'))
    rows = page.get_by_role("link", name=_PATHWAY_LINK)
    await expect(rows).to_have_count(len(listed), timeout=UI_TIMEOUT_MS)
    assert sorted(await rows.all_inner_texts()) == listed
    await expect(page.get_by_role("link", name=re.compile(r"^flux-import-"))).to_have_count(0)
    await page.screenshot(path=tmp_path / "1-filtered-list.png", full_page=True)

    # The same filter on a stage no pathway is in lists nothing: the filter is applied, not decorative.
    await page.goto(_workflows_url(dev_demo.ui, f'WorkflowType="{PATHWAY_TYPE}" AND Stage="{unused_stage}"'))
    await expect(page.get_by_text("No Workflows Found")).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(rows).to_have_count(0)
    await page.screenshot(path=tmp_path / "2-empty-list.png", full_page=True)

    # Open one pathway from the filtered list: its input is decoded through the codec server.
    audited_before = len(await _audit_rows(dev_demo.database_url))
    chosen = listed[0]
    await page.goto(_workflows_url(dev_demo.ui, f'WorkflowType="{PATHWAY_TYPE}" AND Stage="{LISTED_STAGE}"'))
    await page.get_by_role("link", name=chosen, exact=True).click()
    await expect(page).to_have_url(re.compile(rf"/workflows/{chosen}/[0-9a-f-]{{36}}/"), timeout=UI_TIMEOUT_MS)
    await expect(_input_box(page)).to_contain_text('"person_id"', timeout=UI_TIMEOUT_MS)
    await page.screenshot(path=tmp_path / "3-decoded-input.png", full_page=True)

    shown = json.loads(await _input_box(page).inner_text())
    stored = await _started_input(client, chosen)
    assert stored.metadata["encoding"] == b"binary/encrypted"
    expected = json.loads((await client.data_converter.payload_codec.decode([stored]))[0].data)
    assert shown == expected
    assert shown["person_id"] == chosen.removeprefix("pathway-") and shown["territory"]
    decode_calls = [url for url in codec_calls if urllib.parse.urlparse(url).path.endswith("/decode")]
    assert decode_calls, f"the UI never called the codec server: {codec_calls}"
    assert all("/t/" in url for url in decode_calls)  # dev token in the path: the dev UI sends no header

    # The UI's decodes are in the audit log, under the token's name (rows are written before clear data leaves).
    audited = (await _audit_rows(dev_demo.database_url))[audited_before:]
    assert audited, "the UI decoded a payload but no codec_audit row was written"
    assert {(row["token_name"], row["namespace"], row["outcome"]) for row in audited} == {
        ("dev", NAMESPACE, "decoded")}
    assert {row["origin"] for row in audited} == {dev_demo.ui}
    assert set().union(*(row["key_ids"] for row in audited)) == {keyring.current_id}


@pytest.fixture
def ui_without_codec(dev_demo: DevDemo, tmp_path):
    """A second Temporal dev server, on a consistent snapshot of the first one's database, without
    ``--ui-codec-endpoint``: what an ops user sees in a UI that has no codec server configured."""
    snapshot = tmp_path / "temporal-snapshot.db"
    source = sqlite3.connect(f"file:{dev_demo.home / 'temporal.db'}?mode=ro", uri=True)
    target = sqlite3.connect(snapshot)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    grpc, ui = free_port(), free_port()
    command = temporal_dev_server_command(db_file=snapshot, port=grpc, ui_port=ui, namespace=NAMESPACE,
                                          search_attributes=cli_search_attribute_types())
    assert "--ui-codec-endpoint" not in command
    server = subprocess.Popen(command, stdout=open(tmp_path / "temporal.log", "ab"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        wait_for_port(grpc, server, timeout=60)
        wait_for_port(ui, server, timeout=60)
        yield f"127.0.0.1:{grpc}", f"http://localhost:{ui}"
    finally:
        stop_process(server, timeout=15)


async def test_without_the_codec_endpoint_the_same_page_shows_only_ciphertext(
    dev_demo: DevDemo, ui_without_codec, browser, tmp_path
):
    address, ui = ui_without_codec
    client = await Client.connect(address, namespace=NAMESPACE)  # no codec: payloads as Temporal stores them
    stages = await _pathways_by_stage(client)
    chosen = sorted(wid for wid, stage in stages.items() if stage == LISTED_STAGE)[0]
    stored = await _started_input(client, chosen)
    assert stored.metadata["encoding"] == b"binary/encrypted"
    clear = json.loads((await data_converter(load_keyring(dev_demo.home)).payload_codec.decode([stored]))[0].data)

    page = await browser.new_page()
    decode_calls: list[str] = []
    page.on("request", lambda r: decode_calls.append(r.url)
            if urllib.parse.urlparse(r.url).path.endswith("/decode") else None)
    await page.goto(_workflows_url(ui, f'WorkflowType="{PATHWAY_TYPE}" AND Stage="{LISTED_STAGE}"'))
    await page.get_by_role("link", name=chosen, exact=True).click(timeout=UI_TIMEOUT_MS)
    await expect(page).to_have_url(re.compile(rf"/workflows/{chosen}/[0-9a-f-]{{36}}/"), timeout=UI_TIMEOUT_MS)
    box = _input_box(page)
    await expect(box).to_contain_text('"', timeout=UI_TIMEOUT_MS)
    await page.screenshot(path=tmp_path / "4-encrypted-input.png", full_page=True)

    shown = (await box.inner_text()).strip()
    # The UI shows the payload's bytes as base64: exactly the AES-GCM ciphertext Temporal stores.
    assert json.loads(shown) == base64.b64encode(stored.data).decode()
    text = await page.inner_text("body")
    assert '"person_id"' not in text and '"territory"' not in text
    assert f'"{clear["territory"]}"' not in text  # the decoded value, as the codec UI would print it
    assert decode_calls == []
