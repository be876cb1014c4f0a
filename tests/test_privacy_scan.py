"""No personal data in clear (issue 6, item 3): the whole system fed with a demo flow and API calls, then scanned.

``parcours dev --demo N`` imports N synthetic households; a few pathways are then driven through the HTTP API
with NIRs (a closed one, one with an orientation, a CER and an appointment, a demo person's NIR written with
spaces, an invalid NIR). Then everything ops staff can read in clear is scanned for every NIR (15 and 13
characters, plain and spaced), name and birth date of the input: the Temporal SQLite database (raw bytes of the
file and its WAL, every cell read through SQLite, every history event decoded — the blobs are plain protobuf,
not compressed — and every payload but search attributes and UI metadata encrypted), every log file, the workflows' ids, search attributes and memos, the worker's metrics, the
PostgreSQL dump and the API's answers. Zero hits; and each place scanned is checked to hold what it should
(pathway ids, the access log…), so an empty or wrong haystack cannot pass for a clean one.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
from google.protobuf.message import Message
from lxml import etree
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import Client

from activities.cnaf_parser import HOUSEHOLD, CnafFluxReader, extract_household
from domain.deadlines import PARIS, add_months
from domain.flux import RightState
from domain.identity import nir_key
from domain.pathway import Stage
from workers.runtime.codec import ENCODING
from workers.runtime.converter import data_converter
from workers.dev.demo import write_demo_flux
from workers.dev.embedded import _pg_bin, free_port, port_open
from workers.runtime.keys import dev_keyring
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

DEMO_HOUSEHOLDS = 30
NAMESPACE = "parcours-rsa"
PORTS = ("grpc", "ui", "pg", "codec", "metrics", "api", "monjob")
# Workflow ids: opaque ids only (keyed hash of the NIR, file digest) and fixed words.
WORKFLOW_ID = re.compile(r"pathway-[0-9a-f]{32}|flux-import-[0-9a-f]{64}|flux-drop-scan.*|retention-purge.*"
                         r"|labelled?-[A-Z0-9][A-Z0-9_-]*(-\d+)?")
CATEGORY = re.compile(r"[A-Z][A-Z0-9_-]*")


# ---------------------------------------------------------------------------------------------- the input


@dataclass
class PersonalData:
    """What identifies the people of the input, and the byte patterns that would reveal it."""

    nirs: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    birth_dates: set[date] = field(default_factory=set)
    households: int = 0

    def terms(self, flow_date: date) -> list["Term"]:
        found: dict[bytes, Term] = {}
        for nir in self.nirs:
            for text in (nir, nir[:13], _spaced(nir), _spaced(nir[:13])):
                found[text.encode()] = Term(f"NIR {text!r}", text.encode(), DIGITS)
        for name in self.names:
            for text in (name, name.upper(), _ascii(name), _ascii(name).upper()):
                found[text.encode()] = Term(f"name {text!r}", text.encode(), WORD)
        for born in self.scannable_birth_dates(flow_date):
            for text in (born.isoformat(), born.strftime("%d/%m/%Y"), born.strftime("%Y%m%d")):
                found[text.encode()] = Term(f"birth date {text}", text.encode(), DIGITS)
        return list(found.values())

    def scannable_birth_dates(self, flow_date: date) -> set[date]:
        """Birth dates more than a year before the flow: the system's own dates (entry, suspension, closure
        dates, deadlines, timestamps) all fall after that, so a hit can only be a leaked birth date."""
        return {d for d in self.birth_dates if d < flow_date - timedelta(days=366)}


DIGITS = frozenset(b"0123456789")
WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") | frozenset(range(0x80, 0x100))


@dataclass(frozen=True)
class Term:
    """A literal that must not appear as a whole token: the bytes around a match must not continue it."""

    label: str
    text: bytes
    continues: frozenset[int]

    def find(self, data: bytes) -> int:
        start = data.find(self.text)
        while start >= 0:
            end = start + len(self.text)
            if (start == 0 or data[start - 1] not in self.continues) and \
                    (end == len(data) or data[end] not in self.continues):
                return start
            start = data.find(self.text, start + 1)
        return -1


def _spaced(nir: str) -> str:
    """``1 85 03 75 123 456 78``: how a NIR is often written."""
    parts = [nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:]]
    return " ".join(p for p in parts if p)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def read_input(path: Path) -> PersonalData:
    """Every person of every household of the file, accepted or rejected (raw fields, as the parser reads them)."""
    data = PersonalData()
    for _, element in etree.iterparse(str(path), tag=f"{{*}}{HOUSEHOLD}", recover=True):
        data.households += 1
        for person in extract_household(element).persons:
            if person.nir:
                data.nirs.add(person.nir.strip())
            for name in (person.last_name, person.first_name):
                if name and "\ufffd" not in name and len(name.strip()) >= 2:
                    data.names.add(name.strip())
            if person.birth_date:
                try:
                    data.birth_dates.add(date.fromisoformat(person.birth_date.strip()))
                except ValueError:
                    pass  # the "bad date" defect: not a date anyone could leak as one
        element.clear()
    return data


def accepted_subject_nir(path: Path) -> str:
    """The NIR of a person the import accepted and started a pathway for."""
    for record in CnafFluxReader(path):
        if record.accepted and record.household.right_state is RightState.OPEN_PAYABLE:
            for person in record.household.persons:
                if person.subject_to_duties:
                    return person.nir
    raise AssertionError("the demo file has no accepted person subject to duties")


def new_nir() -> str:
    body = f"1{uuid.uuid4().int % 10**12:012d}"
    body = body[:5] + "62" + body[7:]
    return f"{body}{nir_key(body):02d}"


# ---------------------------------------------------------------------------------------------- the system


def start_dev(home: Path, ports: dict[str, int]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL", "PARCOURS_ENCRYPTION_KEYS", "PARCOURS_API_TOKENS")}
    env.update(PARCOURS_HOME=str(home), COLUMNS="200")
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "dev", "--demo", str(DEMO_HOUSEHOLDS),
         "--port", str(ports["grpc"]), "--ui-port", str(ports["ui"]), "--pg-port", str(ports["pg"]),
         "--codec-port", str(ports["codec"]), "--metrics-port", str(ports["metrics"]),
         "--api-port", str(ports["api"]), "--monjob-port", str(ports["monjob"])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_for_line(process: subprocess.Popen, marker: str, timeout: float = 180) -> str:
    output = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if marker in line:
            return "".join(output)
    process.kill()
    pytest.fail(f"parcours dev never printed {marker!r}:\n" + "".join(output))


def stop_dev(process: subprocess.Popen) -> tuple[str, list[psutil.Process]]:
    descendants = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=90)
    _, alive = psutil.wait_procs(descendants, timeout=15)
    return rest, alive


class Api:
    """The HTTP API as another service of the Département calls it (the dev token holds every scope)."""

    def __init__(self, port: int, home: Path) -> None:
        token = next(line.split(":")[1] for line in (home / "api-tokens").read_text().splitlines()
                     if line.startswith("dev:"))
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                                 timeout=30)
        self.answers: list[str] = []

    def post(self, path: str, body: dict, *, key: str | None = None, expect: int | tuple[int, ...] = (200, 202)):
        headers = {"Idempotency-Key": key or str(uuid.uuid4()), "X-Actor": "agent:privacy-scan"}
        response = self.http.post(path, json=body, headers=headers)
        self.answers.append(response.text)
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, f"{path}: {response.status_code} {response.text}"
        return response.json()

    def read(self, pathway_id: str, stage: Stage, attempts: int = 300) -> dict:
        for _ in range(attempts):
            response = self.http.get(f"/v1/pathways/{pathway_id}")
            self.answers.append(response.text)
            assert response.status_code == 200, response.text
            if response.json()["stage"] == stage.value:
                return response.json()
            time.sleep(0.05)
        raise AssertionError(f"{pathway_id} never reached {stage.value}: {response.text}")

    def start(self, nir: str, today: date) -> str:
        body = {"nir": nir, "territory": "LENS-LIEVIN", "transmission_date": today.isoformat(),
                "subject_to_duties": True}
        return self.post("/v1/pathways", body, key=str(uuid.uuid4()))["pathway_id"]


def drive_pathways(api: Api, demo_nir: str, today: date) -> dict[str, str]:
    """A few pathways through the API with NIRs; returns the NIRs used (to scan for) by role."""
    nirs = {"closed": new_nir(), "accompanied": new_nir()}

    closed = api.start(nirs["closed"], today)
    api.read(closed, Stage.AWAITING_ORIENTATION)
    api.post(f"/v1/pathways/{closed}/left-rsa", {"end_of_payment_date": today.isoformat(), "reason": "ressources"})
    api.read(closed, Stage.CLOSED)

    accompanied = api.start(nirs["accompanied"], today)
    assert api.post("/v1/pathways/resolve", {"nir": _spaced(nirs["accompanied"])}) == {"pathway_id": accompanied}
    api.read(accompanied, Stage.AWAITING_ORIENTATION)
    api.post(f"/v1/pathways/{accompanied}/orientation",
             {"target": "REFERENT_SOLIDARITE", "structure_id": "CCAS-LENS", "notified_on": today.isoformat(),
              "bypass_reason": "suivi social en cours"})
    end = add_months(today, 6) - timedelta(days=1)
    api.post(f"/v1/pathways/{accompanied}/contrat-engagement",  # entered today: it replaces the CER (§8.3)
             {"cer_id": "cer-1", "type": "SOLIDARITE", "start": today.isoformat(), "end": end.isoformat(),
              "signed_on": today.isoformat(), "weekly_hours": 15,
              "actions": [{"start": today.isoformat(), "end": add_months(today, 2).isoformat()}]})
    api.post(f"/v1/pathways/{accompanied}/appointments",
             {"kind": "HELD", "appointment_date": today.isoformat(), "physical": True})
    api.read(accompanied, Stage.CER_ACTIVE)

    # A person of the demo flow, the NIR written with spaces: an event on the pathway the import started.
    demo = api.start(_spaced(demo_nir), today)
    api.read(demo, Stage.AWAITING_ORIENTATION)
    # A mistyped NIR is refused without being echoed.
    wrong = nirs["closed"][:13] + f"{(int(nirs['closed'][13:]) % 97) + 1:02d}"
    refused = api.post("/v1/pathways", {"nir": wrong, "territory": "LENS-LIEVIN",
                                        "transmission_date": today.isoformat(), "subject_to_duties": True}, expect=422)
    assert refused["error"]["field"] == "nir"
    nirs["refused"] = wrong
    nirs["pathways"] = " ".join((closed, accompanied, demo))
    return nirs


@dataclass
class Listed:
    workflow_id: str
    workflow_type: str
    search_attributes: dict[str, object]
    memo: dict[str, object]


async def list_workflows(address: str, home: Path) -> list[Listed]:
    """Ids, search attributes and memos as the Web UI and `temporal workflow list` show them (memos decoded)."""
    client = await Client.connect(address, namespace=NAMESPACE, data_converter=data_converter(dev_keyring(home)))
    listed = []
    async for execution in client.list_workflows():
        attributes = {pair.key.name: pair.value for pair in execution.typed_search_attributes}
        listed.append(Listed(execution.id, execution.workflow_type, attributes, await execution.memo()))
    return listed


async def wait_for_read_model(url: str, pathway_id: str, attempts: int = 300) -> None:
    """The closed pathway's row is written by an activity after the workflow moved: wait for it."""
    conn = await asyncpg.connect(url)
    try:
        for _ in range(attempts):
            if await conn.fetchval("SELECT closed_on FROM pathways WHERE pathway_id = $1", pathway_id):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{pathway_id} never recorded as closed in the read model")
    finally:
        await conn.close()


def pg_dump(port: int) -> bytes:
    done = subprocess.run([str(_pg_bin() / "pg_dump"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                           "--data-only", "parcours"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


# ---------------------------------------------------------------------------------------------- the haystacks


def sqlite_cells(db: Path, ciphertexts: set[bytes]) -> bytes:
    """Every cell of every table of the Temporal database, read through SQLite (the WAL applied, blobs whole),
    with the ciphertexts blanked: random bytes would match short names by chance."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        parts: list[bytes] = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, bytes):
                        for ciphertext in ciphertexts:
                            if ciphertext in cell:
                                cell = cell.replace(ciphertext, b"\0")
                        parts.append(cell)
                    elif cell is not None:
                        parts.append(str(cell).encode("utf-8"))
                    parts.append(b"\n")
        return b"".join(parts)
    finally:
        conn.close()


# Payloads the server must be able to read: search attributes (indexed), and user metadata (UI summaries); and
# the marker details the SDK core writes itself, past the codec: patch ids and local-activity bookkeeping
# (sequence, attempt, activity type, times; a local activity's result is encrypted). All are scanned below.
CLEAR_PAYLOAD_PLACES = ("search_attributes", "user_metadata", "header", "marker_recorded_event_attributes.details")


def history_payloads(db: Path) -> tuple[bytes, list[str], set[bytes]]:
    """Decode every history event: the clear payloads' bytes, where clear payloads sit outside the allowed places,
    and the ciphertexts of the encrypted ones."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    clear: list[bytes] = []
    misplaced: list[str] = []
    encrypted: set[bytes] = set()

    def walk(message: Message, path: str) -> None:
        if isinstance(message, Payload):
            if message.metadata.get("encoding") == ENCODING:
                encrypted.add(message.data)
                return
            clear.append(message.data + b"\n" + b"\n".join(message.metadata.values()))
            if message.data and not any(place in path for place in CLEAR_PAYLOAD_PLACES):
                misplaced.append(path)
            return
        for descriptor, value in message.ListFields():
            if descriptor.message_type is None:
                continue
            where = f"{path}.{descriptor.name}"
            if descriptor.message_type.GetOptions().map_entry:
                for item in value.values():
                    if isinstance(item, Message):
                        walk(item, where)
            elif isinstance(value, Message):
                walk(value, where)
            else:
                for item in value:
                    walk(item, where)

    try:
        for (blob,) in conn.execute("SELECT data FROM history_node"):
            for event in History.FromString(blob).events:
                walk(event, "")
    finally:
        conn.close()
    return b"\n".join(clear), misplaced, encrypted


def hits(terms: list[Term], haystacks: dict[str, bytes]) -> list[str]:
    found = []
    for where, data in haystacks.items():
        for term in terms:
            at = term.find(data)
            if at >= 0:
                context = data[max(0, at - 60):at + len(term.text) + 60]
                found.append(f"{term.label} in {where}: ...{context!r}...")
    return found


# ---------------------------------------------------------------------------------------------- the test


def test_no_personal_data_in_clear_anywhere(tmp_path):
    ports = {name: free_port() for name in PORTS}
    home = tmp_path / "home"
    process = start_dev(home, ports)
    console = ""
    try:
        console += wait_for_line(process, "ready")
        console += wait_for_line(process, "--demo: import done")
        # Imported, then removed from the drop directory; the same day and size regenerate the same file.
        assert list((home / "drop").glob("demo-*.xml")) == []
        flux = write_demo_flux(tmp_path / "regenerated", DEMO_HOUSEHOLDS)
        personal = read_input(flux)
        today = datetime.now(PARIS).date()

        api = Api(ports["api"], home)
        used = drive_pathways(api, accepted_subject_nir(flux), today)
        closed, accompanied, demo = used.pop("pathways").split()
        personal.nirs |= set(used.values())
        database_url = f"postgresql://postgres@127.0.0.1:{ports['pg']}/parcours?sslmode=disable"
        asyncio.run(wait_for_read_model(database_url, closed))

        listed = asyncio.run(list_workflows(f"127.0.0.1:{ports['grpc']}", home))
        metrics = httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=10).content
        dump = pg_dump(ports["pg"])
    finally:
        rest, alive = stop_dev(process)
        console += rest
    assert alive == [] and not any(port_open(p) for p in ports.values())

    # The input is what we think it is: a scan of the dropped file itself finds every kind of term.
    assert personal.households == DEMO_HOUSEHOLDS and len(personal.nirs) >= DEMO_HOUSEHOLDS
    assert len(personal.scannable_birth_dates(today)) >= DEMO_HOUSEHOLDS
    terms = personal.terms(today)
    in_input = hits(terms, {"input": flux.read_bytes()})
    assert {h.split()[0] for h in in_input} == {"NIR", "name", "birth"}

    # Workflow ids and search attributes: opaque ids and coarse categories only.
    ids = {item.workflow_id for item in listed}
    assert {closed, accompanied, demo} <= ids and sum(i.startswith("pathway-") for i in ids) >= 20
    assert [i for i in ids if not WORKFLOW_ID.fullmatch(i)] == []
    check_search_attributes(listed)

    db = home / "temporal.db"
    clear_payloads, misplaced, ciphertexts = history_payloads(db)
    assert misplaced == [], f"clear payloads outside search attributes / UI metadata: {sorted(set(misplaced))}"
    assert len(ciphertexts) > DEMO_HOUSEHOLDS
    # Raw file bytes (free pages and WAL frames included) hold ciphertexts split across pages: there, names are
    # looked for from 6 bytes on (a chance match is then negligible); every name is looked for in the cells.
    raw_terms = [t for t in terms if not t.label.startswith("name") or len(t.text) >= 6]
    raw_files = {path.name: path.read_bytes() for path in sorted(home.glob("temporal.db*"))}
    haystacks = {"temporal.db cells": sqlite_cells(db, ciphertexts)}
    haystacks["history clear payloads"] = clear_payloads
    haystacks.update({f"logs/{path.name}": path.read_bytes() for path in sorted((home / "logs").glob("*"))})
    haystacks["workflow list"] = repr([vars(item) for item in listed]).encode("utf-8")
    haystacks["worker metrics"] = metrics
    haystacks["pg_dump"] = dump
    haystacks["parcours dev output"] = console.encode("utf-8")
    haystacks["API answers"] = "\n".join(api.answers).encode("utf-8")

    # Each haystack holds what it should, so a clean result is not an empty one.
    assert closed.encode() in haystacks["temporal.db cells"] and closed.encode() in dump
    assert closed.encode() in b"".join(raw_files.values())
    assert accompanied.removeprefix("pathway-").encode() in dump  # the person id of the read model
    assert b'"api_request"' in haystacks["logs/api.log"] and b"worker started" in haystacks["logs/worker.log"]
    assert b"temporal_" in metrics and b"LENS-LIEVIN" in clear_payloads

    leaks = hits(terms, haystacks) + hits(raw_terms, raw_files)
    assert leaks == [], f"{len(leaks)} personal data found in clear:\n" + "\n".join(leaks[:40])


def check_search_attributes(listed: list[Listed]) -> None:
    """By type: codes (stages, territories, referent types, structure ids…), days (deadlines), counts, flags."""
    custom = {key.name for key in ALL_SEARCH_ATTRIBUTES}
    stages = {s.value for s in Stage}
    for item in listed:
        for name, value in item.search_attributes.items():
            if name not in custom:
                assert name in ("BuildIds", "TemporalChangeVersion", "TemporalScheduledById",
                                "TemporalScheduledStartTime", "TemporalWorkerDeploymentVersion"), name
                continue
            where = f"{item.workflow_id} {name}={value!r}"
            if name == "Stage":
                assert value in stages, where
            elif name == "RuleSet":
                assert re.fullmatch(r"\d{4}\.\d+", value), where
            elif isinstance(value, datetime):
                assert value.astimezone(PARIS).time() == datetime.min.time(), where  # a day, not an instant
            elif isinstance(value, bool):
                pass
            elif isinstance(value, (int, float)):
                assert value >= 0, where
            elif isinstance(value, list):
                assert all(isinstance(v, str) and CATEGORY.fullmatch(v) for v in value), where
            else:
                assert isinstance(value, str) and CATEGORY.fullmatch(value), where
