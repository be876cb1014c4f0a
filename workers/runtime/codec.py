"""AES-256-GCM payload codec: what the Temporal server, its database and its UI store is ciphertext.

Each encoded payload is the whole serialized original payload (metadata included, so the server does not even
learn the pydantic/JSON encoding) encrypted with the keyring's current key. The clear metadata keeps only
``encoding: binary/encrypted`` and ``encryption-key-id``; the key id is also bound as associated data, so
changing it or any byte of the ciphertext makes decryption fail instead of yielding other data.

When the payload is encoded for a workflow (the SDK's serialization context: a start, a signal, an activity of
that workflow), the workflow id is written in clear metadata (``parcours-workflow-id``; workflow ids are opaque
by design) and bound into the associated data: the codec server names the case from the payload itself, and
moving the id to another case makes decryption fail.

``decrypt`` of a payload that is not ``binary/encrypted`` returns it unchanged (the codec server shows old
clear history). The data converter of every process uses ``refuse_untrusted=True`` instead: a clear, altered
or foreign payload decodes to a ``binary/refused`` marker that the payload converter refuses
(``workers.runtime.converter``), so a signal or update sent without our codec changes nothing.
"""

from __future__ import annotations

import os
from typing import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
import structlog
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from workers.runtime.converter import REFUSED_ENCODING, REFUSED_KIND_METADATA, REFUSED_REASON_METADATA
from workers.runtime.keys import Keyring, UnknownKeyError

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
WORKFLOW_ID_METADATA = "parcours-workflow-id"
NONCE_BYTES = 12
_AAD_PREFIX = b"parcours-rsa/payload/v1:"
_AAD_PREFIX_V2 = b"parcours-rsa/payload/v2:"
MAX_WORKFLOW_ID_BYTES = 1000

__all__ = ["ENCODING", "KEY_ID_METADATA", "WORKFLOW_ID_METADATA", "CodecError", "EncryptionCodec",
           "TamperedPayloadError", "UnknownKeyError"]

log = structlog.get_logger("parcours.codec")


class CodecError(Exception):
    """A payload cannot be decoded."""


class TamperedPayloadError(CodecError):
    """Authentication failed: the payload was altered, truncated, or encrypted under another key."""


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keyring: Keyring, *, refuse_untrusted: bool = False, workflow_id: str | None = None,
                 _ciphers: dict[str, AESGCM] | None = None) -> None:
        self._keyring = keyring
        self._refuse_untrusted = refuse_untrusted
        self._workflow_id = workflow_id if workflow_id and len(workflow_id.encode()) <= MAX_WORKFLOW_ID_BYTES else None
        self._ciphers: dict[str, AESGCM] = {} if _ciphers is None else _ciphers

    def with_context(self, context: SerializationContext) -> "EncryptionCodec":
        """The same codec for the workflow the SDK is encoding for (its id goes into what it encodes)."""
        workflow_id = getattr(context, "workflow_id", None)
        if workflow_id == self._workflow_id:
            return self
        return EncryptionCodec(self._keyring, refuse_untrusted=self._refuse_untrusted, workflow_id=workflow_id,
                               _ciphers=self._ciphers)

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(self._keyring.key(key_id))
        return cipher

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not self._refuse_untrusted:
            return [self.decrypt(p) for p in payloads]
        return [self._decrypt_or_refuse(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._keyring.current_id
        nonce = os.urandom(NONCE_BYTES)
        metadata = {"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("ascii")}
        if self._workflow_id:
            metadata[WORKFLOW_ID_METADATA] = self._workflow_id.encode("utf-8")
        sealed = self._cipher(key_id).encrypt(nonce, payload.SerializeToString(), _aad(key_id, self._workflow_id))
        return Payload(metadata=metadata, data=nonce + sealed)

    def _decrypt_or_refuse(self, payload: Payload) -> Payload:
        """Our payload in clear, or a ``binary/refused`` marker saying why (never an exception: an exception
        here would fail the whole workflow task, again at every retry)."""
        try:
            if payload.metadata.get("encoding") != ENCODING:
                raise CodecError("payload is not encrypted (sent by a client without the parcours-rsa codec)")
            return self.decrypt(payload)
        except UnknownKeyError as err:
            kind, reason = b"unknown-key", str(err)
        except CodecError as err:
            kind, reason = b"untrusted", str(err)
        log.warning("payload_refused", kind=kind.decode(), reason=reason, workflow_id=self._workflow_id)
        return Payload(metadata={"encoding": REFUSED_ENCODING, REFUSED_KIND_METADATA: kind,
                                 REFUSED_REASON_METADATA: reason.encode("utf-8")})

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if not raw_id:
            raise CodecError(f"encrypted payload without {KEY_ID_METADATA!r} metadata")
        key_id = raw_id.decode("ascii", errors="replace")
        cipher = self._cipher(key_id)  # UnknownKeyError names the missing id
        if len(payload.data) <= NONCE_BYTES:
            raise TamperedPayloadError(f"encrypted payload (key {key_id!r}) is truncated")
        try:
            clear = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:],
                                   _aad(key_id, self.workflow_id_of(payload)))
        except (InvalidTag, UnicodeEncodeError):
            raise TamperedPayloadError(
                f"encrypted payload (key {key_id!r}) failed authentication: altered or not ours"
            ) from None
        return Payload.FromString(clear)

    @staticmethod
    def key_id_of(payload: Payload) -> str | None:
        """The key id of an encrypted payload (None if clear): for audit and rotation reports."""
        if payload.metadata.get("encoding") != ENCODING:
            return None
        raw = payload.metadata.get(KEY_ID_METADATA)
        return raw.decode("ascii", errors="replace") if raw else None

    @staticmethod
    def workflow_id_of(payload: Payload) -> str | None:
        """The workflow id our encoder bound to the payload (authenticated by ``decrypt``), if any."""
        raw = payload.metadata.get(WORKFLOW_ID_METADATA)
        return raw.decode("utf-8", errors="replace") if raw else None


def _aad(key_id: str, workflow_id: str | None = None) -> bytes:
    if workflow_id is None:
        return _AAD_PREFIX + key_id.encode("ascii")
    return _AAD_PREFIX_V2 + key_id.encode("ascii") + b"\x00" + workflow_id.encode("utf-8")
