"""Territory from the address: the household's INSEE commune (NUMCOM) through the commune → territory
table; a commune missing from it gives UNASSIGNED and one task for the SLAI manager, who reassigns the
pathway (update, API route, CLI), recorded as an event of its history."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from activities.territory import EXAMPLE_TABLE, load_commune_table
from domain.identity import person_id
from domain.pathway_constants import pathway_workflow_id
from domain.territory import UNASSIGNED, CommuneTable, CommuneTableError
from tests.flux_import_harness import build_worker, enc_client, import_input, secret_for  # noqa: F401
from tests.real_flux_files import OUT
from workers.api import create_app
from workers.api.auth import ApiTokens, Scope, token_entry
from workers.runtime.config import Settings
from workers.runtime.keys import ENV_VAR as KEYS_ENV_VAR
from workflows.flux_import import start_flux_import

REPO = Path(__file__).resolve().parent.parent
STAFF = token_entry("slai-tool", {Scope.PATHWAY_EVENTS})


def test_the_table_is_strict_and_answers_by_insee_code():
    table = CommuneTable.parse(["commune;territory", "62041;ARRAGEOIS", "", "2A004;CORSE", "62193;calaisis"])
    assert table.territory_for("62041") == "ARRAGEOIS" and table.territory_for("2a004") == "CORSE"
    assert table.territory_for("62193") == "CALAISIS" and table.territory_for("62999") is None
    assert table.territory_for(None) is None
    for lines, message in ((["commune,territory", "62041,A", "62041,B"], "already in A"),
                           (["commune;territory", "6204;A"], "not an INSEE commune code"),
                           (["commune;territory", f"62041;{UNASSIGNED}"], "territory code"),
                           (["code;zone"], "header"), ([], "empty")):
        with pytest.raises(CommuneTableError, match=message):
            CommuneTable.parse(lines)
    assert load_commune_table(EXAMPLE_TABLE).territory_for("62041") == "ARRAGEOIS"


async def _read_model(db_pool, sql: str, *args, until=lambda v: v is not None, attempts: int = 200):
    value = None
    for _ in range(attempts):
        value = await db_pool.fetchval(sql, *args)
        if until(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never held: {sql} -> {value}")


async def test_import_places_pathways_by_commune_and_the_slai_manager_reassigns(
        enc_client, db_pool, task_queue, unique_id, tmp_path, dev_env, test_keyring):  # noqa: F811
    secret = secret_for(unique_id)
    path = tmp_path / "caf.xml"
    path.write_bytes((OUT / "caf_monthly_nir13.xml").read_bytes() + f"<!-- {unique_id} -->\r\n".encode())
    inp = import_input(path)
    cecile, eric, noel = (pathway_workflow_id(person_id(nir, secret))
                          for nir in ("2850862041123", "1830862041456", "1900159123789"))
    async with build_worker(enc_client, task_queue, db_pool, secret, communes=load_commune_table(EXAMPLE_TABLE)):
        result = await (await start_flux_import(enc_client, inp, task_queue=task_queue)).result()
        assert (result.households, result.new_pathways) == (4, 3)
        territory = "SELECT territory FROM pathways WHERE pathway_id = $1"
        assert await _read_model(db_pool, territory, cecile) == "ARRAGEOIS"  # NUMCOM 62041
        assert await _read_model(db_pool, territory, eric) == "ARRAGEOIS"
        assert await _read_model(db_pool, territory, noel) == UNASSIGNED  # 59350: not in the table
        tasks = await db_pool.fetch("SELECT * FROM human_tasks WHERE kind = 'TERRITORY_UNASSIGNED' AND workflow_id = "
                                    "ANY($1::text[])", [cecile, eric, noel])
        assert [(t["workflow_id"], t["assignee"], t["status"]) for t in tasks] == [
            (noel, "SLAI_MANAGER:UNASSIGNED", "OPEN")]
        assert json.loads(tasks[0]["details"])["commune"] == "59350"  # the code to add, never the address

        settings = Settings(temporal_task_queue=task_queue, temporal_namespace=enc_client.namespace)
        app = create_app(enc_client, settings, db_pool, tokens=ApiTokens.parse(STAFF))
        headers = {"Authorization": f"Bearer {STAFF.split(':')[1]}", "Idempotency-Key": str(uuid.uuid4()),
                   "X-Actor": "agent:slai-manager-7"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as http:
            moved = await http.post(f"/v1/pathways/{noel}/territory", headers=headers,
                                    json={"territory": "ARTOIS", "reason": "commune 59350 hors table"})
            assert moved.status_code == 200, moved.text
            assert moved.json()["event"] == "reassign_territory" and not moved.json()["duplicate"]
            headers["Idempotency-Key"] = str(uuid.uuid4())
            same = await http.post(f"/v1/pathways/{noel}/territory", headers=headers, json={"territory": "ARTOIS"})
            assert 400 <= same.status_code < 500 and "already in territory ARTOIS" in same.text
        assert await _read_model(db_pool, territory, noel, until=lambda v: v == "ARTOIS") == "ARTOIS"
        assert await _read_model(db_pool, "SELECT status FROM human_tasks WHERE task_key = $1",
                                 f"{noel}:TERRITORY_UNASSIGNED", until=lambda v: v == "DONE") == "DONE"
        assert await _read_model(db_pool, "SELECT cause FROM stage_changes WHERE pathway_id = $1 AND cause LIKE "
                                 "'TERRITORY_REASSIGNED:%'", noel) == "TERRITORY_REASSIGNED:UNASSIGNED->ARTOIS"

        env = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
               "TEMPORAL_NAMESPACE": enc_client.namespace, KEYS_ENV_VAR: test_keyring.to_spec(),
               "PARCOURS_HOME": str(tmp_path)}
        done = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "workers.cli", "pathway", "reassign-territory", cecile, "calaisis", "--reason",
            "déménagement"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"pathway_id": cecile, "territory": "CALAISIS",
                                           "stage": "AWAITING_ORIENTATION", "duplicate": False}
        assert await _read_model(db_pool, territory, cecile, until=lambda v: v == "CALAISIS") == "CALAISIS"
        again = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "workers.cli", "pathway", "reassign-territory", cecile, "CALAISIS"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 1 and "already in territory CALAISIS" in again.stderr
        assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    for workflow_id in (cecile, eric, noel):
        await enc_client.get_workflow_handle(workflow_id).terminate("test over")
