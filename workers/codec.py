"""AES-256-GCM payload codec: what the Temporal server, its database and its UI store is ciphertext.

Each encoded payload is the whole serialized original payload (metadata included, so the server does not even
learn the pydantic/JSON encoding) encrypted with the keyring's current key. The clear metadata keeps only
``encoding: binary/encrypted`` and ``encryption-key-id``; the key id is also bound as associated data, so
changing it or any byte of the ciphertext makes decryption fail instead of yielding other data.

Decoding a payload that is not ``binary/encrypted`` returns it unchanged (history written before encryption
was enabled, or values the server itself creates).
"""

from __future__ import annotations

import os
from typing import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from workers.keys import Keyring, UnknownKeyError

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
_AAD_PREFIX = b"parcours-rsa/payload/v1:"

__all__ = ["ENCODING", "KEY_ID_METADATA", "CodecError", "EncryptionCodec", "TamperedPayloadError", "UnknownKeyError"]


class CodecError(Exception):
    """A payload cannot be decoded."""


class TamperedPayloadError(CodecError):
    """Authentication failed: the payload was altered, truncated, or encrypted under another key."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._ciphers: dict[str, AESGCM] = {}

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
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._keyring.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(key_id).encrypt(nonce, payload.SerializeToString(), _aad(key_id))
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("ascii")},
            data=nonce + sealed,
        )

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
            clear = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], _aad(key_id))
        except InvalidTag:
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


def _aad(key_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode("ascii")
