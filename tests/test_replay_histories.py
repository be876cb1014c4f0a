"""Replay safety: every recorded history replays on the code of this commit, and a change to a workflow's
command sequence is caught (docs/replay.md).

``tests/histories/*.json`` hold histories of every registered workflow type, recorded by
``tests/record_histories.py`` and encrypted with the public test-only key of ``tests/histories/test-keys``;
they are replayed with the production workflows (``workers.runtime.registry.WORKFLOWS``), sandbox and data converter.
"""

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

with workflow.unsafe.imports_passed_through():
    from domain.pathway_contract import PUSH_MONJOB62
    from domain.flux_import import WORKFLOW_TYPE as FLUX_IMPORT_TYPE
    from domain.flux_import import FluxImportInput, FluxImportResult
    from domain.pathway import MonJob62Push, PathwayInput, PathwayView
    from tests.record_histories import (
        HISTORIES,
        Stack,
        history_converter,
        history_keyring,
        record,
        workflow_type_of,
    )
    from workers.runtime.converter import data_converter
    from workers.runtime.registry import WORKFLOWS
    from workers.runtime.sandbox import workflow_runner
    from workflows.flux_import import FluxImport
    from domain.pathway_contract import WORKFLOW_TYPE as PATHWAY_TYPE
    from workflows.pathway import BeneficiaryPathway

HISTORY_FILES = sorted(HISTORIES.glob("*.json"))
CER_CYCLE = HISTORIES / "BeneficiaryPathway-cer-cycle-run2.json"  # the referent's run: CER pushed to MonJob62
FLUX_IMPORT = HISTORIES / "FluxImport-slices-run1.json"


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def replayer(*workflows: type) -> Replayer:
    return Replayer(workflows=list(workflows) or WORKFLOWS, data_converter=history_converter(),
                    workflow_runner=workflow_runner())


async def failures(replayer: Replayer, histories) -> list[Exception | None]:
    """The replay failure of each history (None: replayed), in order."""
    return [(await replayer.replay_workflow(h, raise_on_replay_failure=False)).replay_failure for h in histories]


def registered_types() -> set[str]:
    return {workflow._Definition.must_from_class(w).name for w in WORKFLOWS}


# ---------------------------------------------------------------- the committed histories


def test_every_registered_workflow_type_has_a_recorded_history():
    recorded = {workflow_type_of(load(path)) for path in HISTORY_FILES}
    assert registered_types() - recorded == set(), "record a history for each new workflow type (docs/replay.md)"
    # A recorded type that is no longer registered: a workflow removed while runs of it may still be open.
    assert recorded - registered_types() == set()


@pytest.mark.parametrize("path", HISTORY_FILES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path):
    if path.name.startswith("pathway_"):
        # Recorded before payload encryption existed (every payload in clear): the production converter refuses
        # clear payloads (no deployment ever ran without encryption), so these replay the workflow code with a
        # converter without codec, as tests/test_pathway_replay.py does.
        await Replayer(workflows=WORKFLOWS, data_converter=data_converter(),
                       workflow_runner=workflow_runner()).replay_workflow(load(path))
        return
    await replayer().replay_workflow(load(path))


#: Marker details the SDK core writes itself, in clear (not through the codec): a patch's id, and a local
#: activity's bookkeeping (its result payload is encrypted like any other).
CORE_MARKER_FIELDS = {"patch-data": {"id", "deprecated"},
                      "data": {"seq", "activation_index", "attempt", "activity_id", "activity_type", "complete_time",
                               "original_schedule_time", "backoff"}}


def _payload_encodings(node, under: tuple[str, ...] = ()):
    """(key path, encoding, key id or clear data) of every payload in an exported history."""
    if isinstance(node, dict):
        metadata = node.get("metadata")
        if isinstance(metadata, dict) and "encoding" in metadata:
            key_id = metadata.get("encryption-key-id")
            yield under, base64.b64decode(metadata["encoding"]).decode(), \
                base64.b64decode(key_id).decode() if key_id else base64.b64decode(node.get("data", ""))
        for key, value in node.items():
            yield from _payload_encodings(value, under + (key,))
    elif isinstance(node, list):
        for value in node:
            yield from _payload_encodings(value, under)


@pytest.mark.parametrize("path", [p for p in HISTORY_FILES if not p.name.startswith("pathway_")], ids=lambda p: p.stem)
def test_recorded_payloads_are_encrypted_with_the_test_key(path):
    """Only search attributes (indexed by the server, opaque by design) and the SDK core's own marker
    bookkeeping are in clear; payloads went through the production codec with the test-only key, so the
    replay above decoded them."""
    found = list(_payload_encodings(json.loads(path.read_text(encoding="utf-8"))))
    clear = [(where, data) for where, encoding, data in found
             if encoding != "binary/encrypted" and "searchAttributes" not in where]
    unexpected = [where for where, data in clear
                  if not (where[-4:-2] == ("markerRecordedEventAttributes", "details") and where[-2] in CORE_MARKER_FIELDS
                          and set(json.loads(data)) <= CORE_MARKER_FIELDS[where[-2]])]
    assert unexpected == []
    assert {key for _, encoding, key in found if encoding == "binary/encrypted"} == {history_keyring().current_id}


# ---------------------------------------------------------------- a changed command sequence is caught


@workflow.defn(name=PATHWAY_TYPE)
class PathwayWithPushDelay(BeneficiaryPathway):
    """An incompatible change: a grace timer before each MonJob62 push, where history has the activity."""

    @workflow.run
    async def run(self, inp: PathwayInput) -> PathwayView:
        return await super().run(inp)

    async def _push(self, item: MonJob62Push) -> None:
        await workflow.sleep(timedelta(minutes=5))
        await super()._push(item)


@workflow.defn(name=PATHWAY_TYPE)
class PathwayWithPatchedPushDelay(BeneficiaryPathway):
    """The same change behind ``workflow.patched``: runs that pushed before it replay the old way."""

    @workflow.run
    async def run(self, inp: PathwayInput) -> PathwayView:
        return await super().run(inp)

    async def _push(self, item: MonJob62Push) -> None:
        if workflow.patched("monjob62-push-grace-delay"):
            await workflow.sleep(timedelta(minutes=5))
        await super()._push(item)


@workflow.defn(name=FLUX_IMPORT_TYPE)
class FluxImportWithPrecheck(FluxImport):
    """An incompatible change: a new activity before the file survey."""

    @workflow.run
    async def run(self, inp: FluxImportInput) -> FluxImportResult:
        await workflow.execute_activity("flux_import.precheck", inp.file_path,
                                        start_to_close_timeout=timedelta(minutes=1))
        return await super().run(inp)


def _pushes(history: WorkflowHistory) -> int:
    return sum(1 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
               and e.activity_task_scheduled_event_attributes.activity_type.name == PUSH_MONJOB62)


@pytest.mark.parametrize(("changed", "path"), [(PathwayWithPushDelay, CER_CYCLE), (FluxImportWithPrecheck, FLUX_IMPORT)],
                         ids=["timer-before-push", "activity-before-survey"])
async def test_a_changed_command_sequence_fails_the_replay(changed, path):
    history = load(path)
    if changed is PathwayWithPushDelay:
        assert _pushes(history), "the history must reach the changed code"
    result = await replayer(changed).replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    with pytest.raises(NondeterminismError):  # what CI sees: the test fails
        await replayer(changed).replay_workflow(history)


async def test_the_same_change_behind_workflow_patched_replays():
    pathway_histories = [load(p) for p in HISTORY_FILES if p.name.startswith(f"{PATHWAY_TYPE}-")]
    assert any(_pushes(h) for h in pathway_histories)
    assert await failures(replayer(PathwayWithPatchedPushDelay), pathway_histories) == [None] * len(pathway_histories)


# ---------------------------------------------------------------- the recorder still records what replays


async def test_recorder_scenarios_replay_on_the_current_code(dev_env, db_pool, tmp_path):
    """Every scenario of ``tests/record_histories.py`` runs and its fresh histories replay: the recorder is
    ready for the next re-recording, and the current code is deterministic on every workflow type."""
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  namespace=dev_env.client.namespace, data_converter=history_converter())
    recorded = await record(Stack(db_pool, client, tmp_path))
    assert {workflow_type_of(h) for h in recorded.values()} == registered_types()
    assert dict(zip(recorded, await failures(replayer(), recorded.values()))) == dict.fromkeys(recorded)
