"""``parcours tasks list|show|complete`` on the read model (DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import pytest
from typer.testing import CliRunner

from activities.label import LabelStore, RegisteredLetter
from activities.tasks import NewTask, TaskFilter, TaskStore
from workers.cli.app import app

pytestmark = pytest.mark.asyncio(loop_scope="session")
runner = CliRunner()


async def tasks(database_url: str, *args: str):
    return await asyncio.to_thread(runner.invoke, app, ["tasks", *args], env={"DATABASE_URL": database_url, "COLUMNS": "250"})


async def test_list_show_and_complete_a_task_in_json(database_url, db_pool):
    wid = f"pathway-{uuid.uuid4().hex}"
    await TaskStore.create(db_pool, [NewTask(task_key=f"{wid}:CHOOSE_AFTER_EXIT:1", workflow_id=wid,
                                             kind="CHOOSE_AFTER_EXIT", assignee="REFERENT:S1", due_date=date(2026, 6, 1))])
    listed = await tasks(database_url, "list", "--pathway", wid, "--format", "json")
    assert listed.exit_code == 0, listed.output
    (task,) = json.loads(listed.stdout)["tasks"]
    assert (task["kind"], task["status"], task["due_date"]) == ("CHOOSE_AFTER_EXIT", "OPEN", "2026-06-01")
    shown = await tasks(database_url, "show", str(task["task_id"]), "--format", "json")
    assert json.loads(shown.stdout)["assignee"] == "REFERENT:S1"
    done = await tasks(database_url, "complete", str(task["task_id"]), "--actor", "agent:a1", "--outcome", "HANDLED",
                       "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["tasks"][0]["closed_by"] == "agent:a1"
    again = await tasks(database_url, "complete", str(task["task_id"]), "--actor", "agent:a1", "--outcome", "HANDLED")
    assert again.exit_code == 1 and "DONE" in again.stderr
    table = await tasks(database_url, "list", "--pathway", wid)
    assert table.exit_code == 0 and "CHOOSE_AFTER_EXIT" in table.stdout and "COMPLETED" in table.stdout


async def test_a_letter_is_marked_sent_with_its_number_and_date(database_url, db_pool):
    wid = f"label-S{uuid.uuid4().hex[:8]}-1"
    await LabelStore(db_pool).send_registered_letter(RegisteredLetter(
        letter_key=f"{wid}:refusal", workflow_id=wid, structure_id="S1", kind="refusal", decided_on=date(2026, 2, 1),
        reasons=[]))
    (task,), _ = await TaskStore(db_pool).list(TaskFilter(workflow_id=wid), limit=5)
    without = await tasks(database_url, "complete", str(task["task_id"]), "--actor", "agent:d1", "--outcome", "SENT")
    assert without.exit_code == 2 and "registered_letter_number" in without.stderr
    today = date.today().isoformat()
    sent = await tasks(database_url, "complete", str(task["task_id"]), "--actor", "agent:d1",
                       "--registered-letter-number", "1A23", "--sent-on", today)
    assert sent.exit_code == 0, sent.output
    row = await db_pool.fetchrow("SELECT registered_letter_number, sent_on FROM label_letters WHERE workflow_id = $1", wid)
    assert (row["registered_letter_number"], row["sent_on"].isoformat()) == ("1A23", today)


@pytest.mark.parametrize("args, message", [
    (["list", "--assignee", "Jean Dupont"], "--assignee"),
    (["list", "--due-before", "2026-13-01"], "--due-before"),
    (["list", "--status", "open"], "--status"),
    (["complete", "1", "--actor", "Jean", "--outcome", "X"], "--actor"),
])
async def test_bad_input_exits_2_with_one_line(database_url, args, message):
    result = await tasks(database_url, *args)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1


async def test_unknown_task_exits_1_and_unreachable_database_exits_3(database_url):
    assert (await tasks(database_url, "show", "999999999999")).exit_code == 1
    down = await tasks("postgresql://nobody@127.0.0.1:1/none", "list")
    assert down.exit_code == 3 and "cannot reach the database" in down.stderr
