"""``parcours tasks list|show|complete`` on the read model (DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from temporalio.client import Client
from temporalio.worker import Worker

from activities.tasks import NewTask, TaskFilter, TaskStore
from domain.label_contract import ApplicationMessages as A
from domain.label_messages import AdminEvaluation, ApplicationSubmitted, Decision, JointReview, SlaiOpinion
from domain.tasks import LETTER_TO_SEND
from workers.cli.app import app
from workers.runtime.converter import data_converter
from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
from workers.runtime.sandbox import workflow_runner
from workflows.label_application import LabelApplicationState, LabelApplicationWorkflow

app_cli = app

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


async def test_a_letter_is_marked_sent_with_its_number_and_date_once_its_case_took_it(
        database_url, db_pool, dev_env, test_keyring, task_queue, tmp_path):
    """``tasks complete`` on a LETTER_TO_SEND task tells the label case first (``record_letter_sent``): its
    refusal exits 1 and leaves the task open; accepted, the case's receipt clock runs from the posting."""
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  namespace=dev_env.client.namespace, data_converter=data_converter(test_keyring))
    worker = Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                    activities=build_activities(Dependencies(pool=db_pool)), workflow_runner=workflow_runner())
    env = {"DATABASE_URL": database_url, "COLUMNS": "250", "TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "TEMPORAL_NAMESPACE": client.namespace, "PARCOURS_ENCRYPTION_KEYS": test_keyring.to_spec(),
           "PARCOURS_HOME": str(tmp_path)}
    sid = f"S{uuid.uuid4().hex[:10]}"
    today = date.today()
    decided = today - timedelta(days=10)
    async with worker:
        app = await client.start_workflow(
            LabelApplicationWorkflow.run, LabelApplicationState(structure_id=sid, application_no=1, territory="ARTOIS"),
            id=f"label-{sid}-1", task_queue=task_queue)
        for name, msg in (
                (A.SUBMIT, ApplicationSubmitted(event_id="s", filed_on=today - timedelta(days=40))),
                (A.RECORD_ADMIN_EVALUATION, AdminEvaluation(event_id="a", training_ok=False, cer_average=6.0, seed="s")),
                (A.RECORD_SLAI_OPINION, SlaiOpinion(event_id="o", confirmed=True)),
                (A.RECORD_JOINT_REVIEW, JointReview(event_id="j", training_ok=False, cer_average=6.5)),
                (A.DECIDE, Decision(event_id="d", outcome="refuse", decided_on=decided, reasons=["formation"]))):
            await app.execute_update(name, msg)
        task = None
        for _ in range(200):
            rows, _ = await TaskStore(db_pool).list(TaskFilter(workflow_id=app.id, kind=LETTER_TO_SEND), limit=5)
            if rows:
                (task,) = rows
                break
            await asyncio.sleep(0.05)
        assert task is not None
        complete = ["tasks", "complete", str(task["task_id"]), "--actor", "agent:d1"]
        without = await asyncio.to_thread(runner.invoke, app_cli, [*complete, "--outcome", "SENT"], env=env)
        assert without.exit_code == 2 and "registered_letter_number" in without.stderr
        early = await asyncio.to_thread(runner.invoke, app_cli, [
            *complete, "--registered-letter-number", "1A 234 567 8901 2",
            "--sent-on", (decided - timedelta(days=1)).isoformat()], env=env)
        assert early.exit_code == 1 and "refused" in early.stderr and "before" in early.stderr, (early.stderr, early.exception)
        assert (await TaskStore(db_pool).get(task["task_id"]))["status"] == "OPEN"
        sent = await asyncio.to_thread(runner.invoke, app_cli, [
            *complete, "--registered-letter-number", "1A 234 567 8901 2", "--sent-on", today.isoformat()], env=env)
        assert sent.exit_code == 0, sent.output
        closed = await TaskStore(db_pool).get(task["task_id"])
        assert (closed["closure_reason"], closed["closed_by"]) == ("COMPLETED", "agent:d1")
        state = await app.query(A.STATE, result_type=LabelApplicationState)
        assert (state.refusals[0].registered_number, state.refusals[0].sent_on) == ("1A 234 567 8901 2", today)
        row = await db_pool.fetchrow("SELECT registered_letter_number, sent_on FROM label_letters WHERE workflow_id = $1",
                                     app.id)
        assert (row["registered_letter_number"], row["sent_on"]) == ("1A 234 567 8901 2", today)
        await app.terminate("test over")


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


async def test_a_case_that_does_not_answer_in_time_exits_1_and_leaves_the_task_open(
        database_url, db_pool, dev_env, test_keyring, tmp_path, monkeypatch):
    """The case's update is bounded by the API's ``UPDATE_TIMEOUT`` (shortened here): a case no worker serves
    gives a one-line error, exit 1, the task open and unclaimed."""
    from workers.api import temporal

    monkeypatch.setattr(temporal, "UPDATE_TIMEOUT", timedelta(seconds=1))
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  namespace=dev_env.client.namespace, data_converter=data_converter(test_keyring))
    sid = f"S{uuid.uuid4().hex[:10]}"
    case = await client.start_workflow(  # on a queue no worker polls: the update is never taken
        LabelApplicationWorkflow.run, LabelApplicationState(structure_id=sid, application_no=1, territory="ARTOIS"),
        id=f"label-{sid}-1", task_queue=f"nobody-{uuid.uuid4().hex}")
    await TaskStore.create(db_pool, [NewTask(
        task_key=f"{case.id}:refusal:{LETTER_TO_SEND}", workflow_id=case.id, kind=LETTER_TO_SEND, assignee="DPID",
        details={"letter_key": f"{case.id}:refusal", "structure_id": sid})])
    rows, _ = await TaskStore(db_pool).list(TaskFilter(workflow_id=case.id), limit=5)
    env = {"DATABASE_URL": database_url, "COLUMNS": "250", "TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "TEMPORAL_NAMESPACE": client.namespace, "PARCOURS_ENCRYPTION_KEYS": test_keyring.to_spec(),
           "PARCOURS_HOME": str(tmp_path)}
    try:
        silent = await asyncio.to_thread(runner.invoke, app_cli, [
            "tasks", "complete", str(rows[0]["task_id"]), "--actor", "agent:d1", "--registered-letter-number",
            "1A 234 567 8901 2", "--sent-on", date.today().isoformat()], env=env)
        assert silent.exit_code == 1, (silent.output, silent.exception)
        assert "did not answer within 1 s" in silent.stderr and len(silent.stderr.splitlines()) == 1
        row = await db_pool.fetchrow("SELECT status, completing_token FROM human_tasks WHERE task_id = $1",
                                     rows[0]["task_id"])
        assert (row["status"], row["completing_token"]) == ("OPEN", None)
    finally:
        await case.terminate("test over")
