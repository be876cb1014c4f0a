"""The one data converter shared by the worker, the CLI, the API and the tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, EncodingPayloadConverter
from temporalio.exceptions import ApplicationError

from workers.runtime.keys import Keyring, UnknownKeyError

#: What the codec (``workers.runtime.codec``, strict mode) puts in place of a payload it will not trust.
REFUSED_ENCODING = b"binary/refused"
REFUSED_KIND_METADATA = "refused-kind"
REFUSED_REASON_METADATA = "refused-reason"
UNTRUSTED_PAYLOAD = "UntrustedPayload"


class RefusedKeyError(UnknownKeyError):
    """A payload under a key this process does not hold. Not a workflow failure: a workflow input under it
    fails the task, retried until the key is configured (a key removed too early must not close cases)."""

    def __init__(self, message: str) -> None:
        KeyError.__init__(self, message)
        self.key_id = ""


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Turns a refused marker back into the refusal, wherever a value is read from it: a signal is dropped (and
    logged), an update or a query is rejected with the reason, a workflow start fails as ``UntrustedPayload``."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        reason = payload.metadata.get(REFUSED_REASON_METADATA, b"").decode("utf-8", errors="replace")
        if payload.metadata.get(REFUSED_KIND_METADATA) == b"unknown-key":
            raise RefusedKeyError(f"payload refused: {reason}")
        raise ApplicationError(f"payload refused: {reason}", type=UNTRUSTED_PAYLOAD, non_retryable=True)


class ParcoursPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON, plus the refused marker."""

    def __init__(self) -> None:
        super().__init__()
        self._set_converters(*self.converters.values(), RefusedPayloadConverter())


def data_converter(keyring: Keyring | None = None) -> DataConverter:
    """Pydantic v2 payloads; with a keyring, every payload is AES-256-GCM encrypted (``workers.runtime.codec``).

    Failure messages and stack traces always go into the failure's encoded attributes payload, so with a
    keyring they are encrypted too, and what the codec refuses (clear, altered or foreign payloads) is refused
    where it is read instead of trusted. A bare ``data_converter()`` encrypts nothing: production processes must
    pass ``load_keyring(...)`` (``workers.runtime.keys``). ``ts_env`` in ``tests/conftest.py`` uses an ephemeral
    keyring, so workflow tests run what production runs.
    """
    # Imported here so that importing this module never loads cryptography (a C extension that must not be
    # re-imported inside the workflow sandbox, e.g. by a test module defining workflows).
    from workers.runtime.codec import EncryptionCodec

    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=ParcoursPayloadConverter,
        payload_codec=EncryptionCodec(keyring, refuse_untrusted=True) if keyring is not None else None,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
