"""The one data converter shared by the worker, the CLI, the API and the tests."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from workers.keys import Keyring


def data_converter(keyring: Keyring | None = None) -> DataConverter:
    """Pydantic v2 payloads; with a keyring, every payload is AES-256-GCM encrypted (``workers.codec``).

    Failure messages and stack traces always go into the failure's encoded attributes payload, so with a
    keyring they are encrypted too. A bare ``data_converter()`` encrypts nothing: production processes must
    pass ``load_keyring(...)`` (``workers.keys``). ``ts_env`` in ``tests/conftest.py`` uses an ephemeral
    keyring, so workflow tests run what production runs.
    """
    # Imported here so that importing this module never loads cryptography (a C extension that must not be
    # re-imported inside the workflow sandbox, e.g. by a test module defining workflows).
    from workers.codec import EncryptionCodec

    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring) if keyring is not None else None,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
