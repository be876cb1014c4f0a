"""The one data converter shared by the worker, the CLI, the API and the tests."""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
    pydantic_data_converter,
)
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, EncodingPayloadConverter
from temporalio.exceptions import ApplicationError

from workers.keys import Keyring, UnknownKeyError

#: What the codec (``workers.codec``, strict mode) puts in place of a payload it will not trust.
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


#: The process's modules, seen from outside any workflow sandbox (this module is imported by the worker itself).
_HOST_MODULES = sys.modules


@functools.lru_cache(maxsize=256)
def _shared_type_adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def _host_class(hint: Any) -> bool:
    """A class every workflow run shares (defined in a passed-through module: ``domain``, builtins, typing), not
    one re-created by a run's sandbox (e.g. ``workflows.label.LabelState``), which a shared cache would keep
    alive after the run."""
    module = _HOST_MODULES.get(getattr(hint, "__module__", None) or "")
    return module is not None and getattr(module, getattr(hint, "__qualname__", ""), None) is hint


class SharedTypeAdapterJSONConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic JSON whose type adapters for shared classes are built once per process.

    Every workflow run gets its own payload converter, and a ``TypeAdapter`` builds its own validator: without
    sharing, each cached pathway held one for ``PathwayInput`` (about 120 KiB). A validator is immutable, so
    sharing it changes nothing a run can observe. Sandbox-local classes keep the per-converter cache.
    """

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = type_hint if type_hint is not None else Any
        if _host_class(hint):
            return _shared_type_adapter(hint).validate_json(payload.data)
        return super().from_payload(payload, type_hint)


class ParcoursPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON (type adapters shared across runs), plus the refused marker."""

    def __init__(self) -> None:
        super().__init__()
        self._set_converters(*(SharedTypeAdapterJSONConverter() if isinstance(c, PydanticJSONPlainPayloadConverter)
                               else c for c in self.converters.values()), RefusedPayloadConverter())


def data_converter(keyring: Keyring | None = None) -> DataConverter:
    """Pydantic v2 payloads; with a keyring, every payload is AES-256-GCM encrypted (``workers.codec``).

    Failure messages and stack traces always go into the failure's encoded attributes payload, so with a
    keyring they are encrypted too, and what the codec refuses (clear, altered or foreign payloads) is refused
    where it is read instead of trusted. A bare ``data_converter()`` encrypts nothing: production processes must
    pass ``load_keyring(...)`` (``workers.keys``). ``ts_env`` in ``tests/conftest.py`` uses an ephemeral
    keyring, so workflow tests run what production runs.
    """
    # Imported here so that importing this module never loads cryptography (a C extension that must not be
    # re-imported inside the workflow sandbox, e.g. by a test module defining workflows).
    from workers.codec import EncryptionCodec

    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=ParcoursPayloadConverter,
        payload_codec=EncryptionCodec(keyring, refuse_untrusted=True) if keyring is not None else None,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
