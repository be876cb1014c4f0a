"""Payload encryption: round trip, key rotation, tampering, encoded failures, key configuration."""

from __future__ import annotations

import base64
import stat
import uuid

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():  # this module defines a workflow: no C extension re-import
    from typer.testing import CliRunner

    from workers.cli.app import app as cli_app
    from workers.runtime.codec import ENCODING, KEY_ID_METADATA, CodecError, EncryptionCodec, TamperedPayloadError
    from workers.runtime.converter import data_converter
    from workers.runtime.keys import ENV_VAR, KeyConfigError, Keyring, UnknownKeyError, format_key, load_keyring, new_key
    from workers.runtime.sandbox import workflow_runner

SECRET_TEXT = "Dupont-Secretname 1985-03-12"


class Dossier(BaseModel):
    nom: str
    rang: int


def _tamper(payload: Payload, **changes) -> Payload:
    copy = Payload()
    copy.CopyFrom(payload)
    for key, value in changes.items():
        if key == "data":
            copy.data = value
        else:
            copy.metadata[key] = value
    return copy


async def test_round_trip_encrypts_with_current_key_and_restores_the_model():
    keyring = Keyring.generate("k1")
    converter = data_converter(keyring)
    [payload] = await converter.encode([Dossier(nom=SECRET_TEXT, rang=3)])

    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID_METADATA] == b"k1"
    assert set(payload.metadata) == {"encoding", KEY_ID_METADATA}  # the JSON encoding itself is hidden
    assert SECRET_TEXT.encode() not in payload.data and b"Dossier" not in payload.data
    assert await converter.decode([payload], [Dossier]) == [Dossier(nom=SECRET_TEXT, rang=3)]


async def test_same_value_encrypts_differently_each_time():
    codec = EncryptionCodec(Keyring.generate("k1"))
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    first, second = await codec.encode([clear, clear])
    assert first.data != second.data  # fresh nonce per payload
    assert await codec.decode([first, second]) == [clear, clear]


async def test_rotation_old_payloads_decrypt_and_new_ones_use_the_new_key():
    before = Keyring.generate("k-2024")
    [old_payload] = await data_converter(before).encode([Dossier(nom="a", rang=1)])

    after = before.rotated("k-2025", new_key())
    converter = data_converter(after)
    assert await converter.decode([old_payload], [Dossier]) == [Dossier(nom="a", rang=1)]
    [new_payload] = await converter.encode([Dossier(nom="b", rang=2)])
    assert new_payload.metadata[KEY_ID_METADATA] == b"k-2025"
    assert after.ids == ("k-2025", "k-2024") and after.current_id == "k-2025"

    # The previous deployment (not yet rotated) cannot read the new payloads, and says why.
    with pytest.raises(UnknownKeyError, match="k-2025"):
        await data_converter(before).decode([new_payload], [Dossier])


async def test_removed_key_gives_a_clear_error_naming_the_key_id():
    [payload] = await data_converter(Keyring.generate("retired")).encode(["x"])
    with pytest.raises(UnknownKeyError) as raised:
        await data_converter(Keyring.generate("current")).decode([payload], [str])
    assert "retired" in str(raised.value) and ENV_VAR in str(raised.value) and "current" in str(raised.value)


async def test_tampering_is_detected():
    keyring = Keyring((("k1", new_key()), ("k2", new_key())))
    codec = EncryptionCodec(keyring)
    [payload] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"montant: 612"')])

    flipped = bytearray(payload.data)
    flipped[-1] ^= 0x01
    with pytest.raises(TamperedPayloadError):
        await codec.decode([_tamper(payload, data=bytes(flipped))])
    with pytest.raises(TamperedPayloadError):  # key id swapped to another known key
        await codec.decode([_tamper(payload, **{KEY_ID_METADATA: b"k2"})])
    with pytest.raises(TamperedPayloadError):
        await codec.decode([_tamper(payload, data=payload.data[:10])])
    without_id = Payload(metadata={"encoding": ENCODING}, data=payload.data)
    with pytest.raises(CodecError, match=KEY_ID_METADATA):
        await codec.decode([without_id])


async def test_clear_payloads_pass_through_decode():
    codec = EncryptionCodec(Keyring.generate())
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b"42")
    assert await codec.decode([clear]) == [clear]


# --- failures are encoded too -------------------------------------------------------------------------------

@workflow.defn(name="CodecFailureProbe")
class CodecFailureProbe:
    @workflow.run
    async def run(self, motif: str) -> str:
        raise ApplicationError(f"refus: {motif}", {"motif": motif}, type="RefusProbe", non_retryable=True)


async def test_workflow_failure_message_is_not_in_clear_in_the_history(ts_env, task_queue):
    assert isinstance(ts_env.client.data_converter.payload_codec, EncryptionCodec)
    workflow_id = f"codec-failure-{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[CodecFailureProbe],
                      workflow_runner=workflow_runner()):
        handle = await ts_env.client.start_workflow(
            CodecFailureProbe.run, SECRET_TEXT, id=workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as raised:
            await handle.result()

    # Our client, which has the key, reads the failure back.
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == f"refus: {SECRET_TEXT}" and cause.type == "RefusProbe"
    assert cause.details == ({"motif": SECRET_TEXT},)

    # What the server stores: neither the input, the message nor the details in clear.
    history = await handle.fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    for needle in (SECRET_TEXT, "Secretname", "1985-03-12"):
        assert needle.encode() not in raw
        assert needle not in history.to_json()
    assert ENCODING in raw
    failed = history.events[-1].workflow_execution_failed_event_attributes.failure
    assert failed.message != cause.message and failed.encoded_attributes.metadata["encoding"] == ENCODING


# --- keys from configuration ------------------------------------------------------------------------------------

def test_keys_from_the_environment_first_is_current(tmp_path):
    k1, k2 = new_key(), new_key()
    spec = f"{format_key('new', k1)}, {format_key('old', k2)}"
    keyring = load_keyring(tmp_path, environ={ENV_VAR: spec})
    assert keyring.ids == ("new", "old") and keyring.current_key == k1 and keyring.key("old") == k2
    assert not (tmp_path / "keys").exists()  # the variable wins; no dev file
    assert Keyring.parse(keyring.to_spec()) == keyring
    assert base64.b64encode(k1).decode() not in repr(keyring)


def test_production_without_keys_refuses_to_start():
    with pytest.raises(KeyConfigError, match=ENV_VAR):
        load_keyring(None, environ={})


def test_dev_keyring_is_generated_once_and_private(tmp_path):
    first = load_keyring(tmp_path, environ={})
    path = tmp_path / "keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(tmp_path, environ={}) == first
    assert load_keyring(tmp_path, environ={ENV_VAR: ""}) == first


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nocolon", "keyid:base64key"),
        ("k1:!!notbase64!!", "base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"{format_key('k1', b'x' * 32)},{format_key('k1', b'y' * 32)}", "twice"),
        (f"bad id:{base64.b64encode(b'x' * 32).decode()}", "invalid key id"),
        ("", "at least one key"),
    ],
)
def test_malformed_key_configuration_is_refused(spec, message):
    with pytest.raises(KeyConfigError, match=message):
        Keyring.parse(spec)


def test_cli_keys_new_prints_a_usable_key_and_a_rotated_list(monkeypatch):
    runner = CliRunner()
    result = runner.invoke(cli_app, ["keys", "new", "--key-id", "k-next"])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip().splitlines()[0]
    assert Keyring.parse(line).ids == ("k-next",)
    assert runner.invoke(cli_app, ["keys", "new", "--key-id", "k-next"]).stdout.splitlines()[0] != line

    current = Keyring.generate("k-now")
    monkeypatch.setenv(ENV_VAR, current.to_spec())
    rotated = runner.invoke(cli_app, ["keys", "new", "--rotate", "--key-id", "k-next"])
    assert rotated.exit_code == 0, rotated.output
    keyring = Keyring.parse(rotated.stdout.strip().splitlines()[0])
    assert keyring.ids == ("k-next", "k-now") and keyring.key("k-now") == current.current_key

    listed = runner.invoke(cli_app, ["keys", "list"])
    assert listed.stdout.split() == ["k-now", "(current)"]
    bad = runner.invoke(cli_app, ["keys", "new", "--key-id", "with space"])
    assert bad.exit_code == 2
