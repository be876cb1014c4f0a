"""Only our payloads are trusted: a clear, altered or foreign payload changes nothing, on every inbound path."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from typing import Sequence

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.converter import PayloadCodec, WorkflowSerializationContext
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():  # this module defines a workflow: no C extension re-import
    from domain.pathway import LeftRsa, OrientationDecision, OrientationTarget, PathwayInput, Stage
    from pathway_harness import running_pathway
    from workers.runtime.codec import WORKFLOW_ID_METADATA, EncryptionCodec, TamperedPayloadError
    from workers.runtime.converter import UNTRUSTED_PAYLOAD, data_converter
    from workers.runtime.keys import Keyring, UnknownKeyError
    from workers.runtime.sandbox import workflow_runner
    from workflows.pathway import BeneficiaryPathway

KEYRING = Keyring.generate("k-trusted")


class ClearSender(PayloadCodec):
    """A client that sends clear JSON (as the temporal CLI or the Web UI would) yet can read our answers, so
    the test sees the reason of a refusal."""

    def __init__(self, keyring: Keyring) -> None:
        self._reader = EncryptionCodec(keyring)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._reader.decode(payloads)


def clear_client(client: Client) -> Client:
    converter = dataclasses.replace(data_converter(), payload_codec=ClearSender(KEYRING))
    return Client(client.service_client, namespace=client.namespace, data_converter=converter)


async def failed_tasks(handle) -> int:
    history = await handle.fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)


async def test_clear_signal_and_update_change_nothing_and_the_workflow_stays_healthy(db_pool, task_queue):
    async with running_pathway(db_pool, task_queue, keyring=KEYRING) as h:
        await h.start()
        before = await h.view()
        history = await h.handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert EncryptionCodec.workflow_id_of(started) == h.handle.id  # the codec server names the case from it
        outsider = clear_client(h.env.client).get_workflow_handle(h.handle.id)

        today = await h.today()
        await outsider.signal(BeneficiaryPathway.left_rsa,
                              LeftRsa(event_id="left-forged", end_of_payment_date=today, reason="forged"))
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await outsider.execute_update(BeneficiaryPathway.orient, OrientationDecision(
                event_id="orient-forged", target=OrientationTarget.PLATFORM, structure_id="S-1", notified_on=today))
        assert "payload refused" in str(rejected.value.cause) and "not encrypted" in str(rejected.value.cause)

        await h.idle()
        after = await h.view()
        assert after == before and after.stage is not Stage.CLOSED and after.exit_reason is None
        assert await failed_tasks(h.handle) == 0  # refused, not a poisoned workflow task

        # The same signal from a client with our codec is applied: the pathway itself works.
        await h.handle.signal(BeneficiaryPathway.left_rsa,
                              LeftRsa(event_id="left-real", end_of_payment_date=today, reason="emploi"))
        await h.view(lambda v: v.exit_reason is not None or v != before)


async def test_a_clear_workflow_start_fails_as_untrusted_without_doing_anything(db_pool, task_queue):
    async with running_pathway(db_pool, task_queue, keyring=KEYRING) as h:
        outsider = clear_client(h.env.client)
        person = uuid.uuid4().hex
        handle = await outsider.start_workflow(BeneficiaryPathway.run, PathwayInput(person_id=person, territory="X"),
                                               id=f"pathway-{person}", task_queue=task_queue,
                                               execution_timeout=timedelta(minutes=5))
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == UNTRUSTED_PAYLOAD
        history = await handle.fetch_history()
        assert not any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events)
        assert await db_pool.fetchval("SELECT count(*) FROM pathways WHERE person_id = $1", person) == 0


async def test_the_converter_refuses_clear_altered_and_foreign_payloads():
    converter = data_converter(KEYRING)
    [ours] = await converter.encode(["ok"])
    assert await converter.decode([ours], [str]) == ["ok"]

    clear = Payload(metadata={"encoding": b"json/plain"}, data=b'"forged"')
    altered = Payload()
    altered.CopyFrom(ours)
    altered.data = altered.data[:-1] + bytes([altered.data[-1] ^ 1])
    for payload in (clear, altered):
        with pytest.raises(ApplicationError) as raised:
            await converter.decode([payload], [str])
        assert raised.value.type == UNTRUSTED_PAYLOAD and raised.value.non_retryable
    [foreign] = await data_converter(Keyring.generate("k-elsewhere")).encode(["x"])
    with pytest.raises(UnknownKeyError, match="k-elsewhere"):  # not a workflow failure: retried until configured
        await converter.decode([foreign], [str])
    assert not isinstance(UnknownKeyError("k", ()), ApplicationError)


async def test_payloads_name_their_workflow_and_cannot_be_moved_to_another():
    codec = EncryptionCodec(KEYRING).with_context(WorkflowSerializationContext(namespace="ns", workflow_id="pathway-a"))
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    assert sealed.metadata[WORKFLOW_ID_METADATA] == b"pathway-a"
    assert EncryptionCodec.workflow_id_of(sealed) == "pathway-a"
    assert (await EncryptionCodec(KEYRING).decode([sealed]))[0].data == b"1"
    sealed.metadata[WORKFLOW_ID_METADATA] = b"pathway-b"
    with pytest.raises(TamperedPayloadError):
        await EncryptionCodec(KEYRING).decode([sealed])


@workflow.defn(name="TrustProbe")
class TrustProbe:
    """A workflow with a query that takes an argument, and a signal that records what it received."""

    def __init__(self) -> None:
        self.received: list[str] = []

    @workflow.run
    async def run(self, label: str) -> list[str]:
        await workflow.wait_condition(lambda: "stop" in self.received)
        return self.received

    @workflow.signal
    def note(self, text: str) -> None:
        self.received.append(text)

    @workflow.query
    def echo(self, text: str) -> str:
        return f"{text}:{len(self.received)}"


async def test_query_arguments_and_starts_under_an_unknown_key(ts_env, task_queue):
    client = ts_env.client
    async with Worker(client, task_queue=task_queue, workflows=[TrustProbe], workflow_runner=workflow_runner()):
        handle = await client.start_workflow(TrustProbe.run, "x", id=f"probe-{uuid.uuid4().hex[:8]}",
                                             task_queue=task_queue)
        assert await handle.query(TrustProbe.echo, "ours") == "ours:0"
        outsider = clear_client(client).get_workflow_handle(handle.id)
        with pytest.raises(WorkflowQueryFailedError):  # its message is in the encrypted failure attributes
            await outsider.query(TrustProbe.echo, "forged")
        await outsider.signal(TrustProbe.note, "forged")
        await handle.signal(TrustProbe.note, "stop")
        assert await handle.result() == ["stop"]  # the clear signal was dropped; the workflow went on

        # A start under a key this worker does not hold: the task fails and is retried until the key is
        # configured; the workflow is neither run nor closed.
        foreign = Client(client.service_client, namespace=client.namespace,
                         data_converter=data_converter(Keyring.generate("k-elsewhere")))
        waiting = await foreign.start_workflow(TrustProbe.run, "y", id=f"probe-{uuid.uuid4().hex[:8]}",
                                               task_queue=task_queue)
        for _ in range(200):
            if await failed_tasks(waiting):
                break
            await asyncio.sleep(0.05)
        assert await failed_tasks(waiting) >= 1
        assert (await waiting.describe()).status == WorkflowExecutionStatus.RUNNING
        await waiting.terminate("test over")
