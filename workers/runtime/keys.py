"""Payload encryption keys, read from configuration.

Production: ``PARCOURS_ENCRYPTION_KEYS`` is a comma-separated list of ``keyid:base64key`` (32-byte AES-256
keys, standard base64). The FIRST entry is the current key: new payloads are encrypted with it; the others
only decrypt payloads written before a rotation. Rotate by putting a new key first (``parcours keys new``)
and keeping the old ones until no open workflow history still needs them.

Development: when the variable is unset and a settings directory is given (``parcours dev`` passes its
``.parcours`` home), a key is generated once and kept in ``<dir>/keys`` (one ``keyid:base64key`` a line, same
order rule, file mode 0600). Without either, loading fails: a production process never invents a key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from workers.runtime.secret_files import write_secret_file

ENV_VAR = "PARCOURS_ENCRYPTION_KEYS"
DEV_KEYS_FILE = "keys"
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class KeyConfigError(ValueError):
    """The key configuration is missing or malformed."""


class UnknownKeyError(KeyError):
    """A payload names a key id that is not in the keyring (key removed too early, or wrong environment)."""

    def __init__(self, key_id: str, known: tuple[str, ...]):
        self.key_id = key_id
        super().__init__(
            f"payload encrypted with key id {key_id!r}, which is not configured "
            f"(known: {', '.join(known) or 'none'}); add it back to {ENV_VAR}"
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass(frozen=True)
class Keyring:
    """Ordered AES-256 keys by id; ``current_id`` encrypts, every key decrypts."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("a keyring needs at least one key")
        seen = set()
        for key_id, key in self.keys:
            if not _KEY_ID.match(key_id):
                raise KeyConfigError(f"invalid key id {key_id!r} (letters, digits, '.', '_', '-'; at most 64)")
            if key_id in seen:
                raise KeyConfigError(f"key id {key_id!r} appears twice")
            if len(key) != KEY_BYTES:
                raise KeyConfigError(f"key {key_id!r} must be {KEY_BYTES} bytes (AES-256), got {len(key)}")
            seen.add(key_id)

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def current_key(self) -> bytes:
        return self.keys[0][1]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.keys)

    def key(self, key_id: str) -> bytes:
        for known_id, key in self.keys:
            if known_id == key_id:
                return key
        raise UnknownKeyError(key_id, self.ids)

    def rotated(self, new_id: str, new_key: bytes) -> "Keyring":
        """The same keyring with a new current key; old keys kept for decryption."""
        return Keyring(((new_id, new_key),) + self.keys)

    def to_spec(self) -> str:
        """The ``PARCOURS_ENCRYPTION_KEYS`` value for this keyring."""
        return ",".join(format_key(key_id, key) for key_id, key in self.keys)

    @classmethod
    def parse(cls, spec: str) -> "Keyring":
        """Read ``keyid:base64key`` entries separated by commas or new lines (``#`` starts a comment line)."""
        entries = []
        for raw in re.split(r"[,\n]", spec):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise KeyConfigError(f"key entry must be keyid:base64key (entry starting {key_id[:8]!r}…)")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyConfigError(f"key {key_id.strip()!r} is not valid base64") from None
            entries.append((key_id.strip(), key))
        return cls(tuple(entries))

    @classmethod
    def generate(cls, key_id: str | None = None) -> "Keyring":
        """A one-key keyring with a fresh random key (dev default, tests)."""
        return cls(((key_id or new_key_id(), new_key()),))

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(current={self.current_id!r}, ids={self.ids!r})"


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def new_key_id(now: datetime | None = None) -> str:
    """Date-stamped, collision-resistant id, e.g. ``k20250301-3f9a1c``: readable order of rotations."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d")
    return f"k{stamp}-{secrets.token_hex(3)}"


def format_key(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.b64encode(key).decode('ascii')}"


def load_keyring(settings_dir: Path | None, environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring from ``PARCOURS_ENCRYPTION_KEYS``, else the dev keyring of ``settings_dir``.

    ``settings_dir=None`` means "production": the variable is required.
    """
    env = os.environ if environ is None else environ
    spec = env.get(ENV_VAR, "").strip()
    if spec:
        return Keyring.parse(spec)
    if settings_dir is None:
        raise KeyConfigError(f"{ENV_VAR} is not set (generate a key with `parcours keys new`)")
    return dev_keyring(Path(settings_dir))


def dev_keyring(settings_dir: Path) -> Keyring:
    """Read ``<settings_dir>/keys``, creating it with a fresh key the first time."""
    path = settings_dir / DEV_KEYS_FILE
    if path.exists():
        return Keyring.parse(path.read_text(encoding="utf-8"))
    keyring = Keyring.generate()
    write_keys_file(path, keyring)
    return keyring


def write_keys_file(path: Path, keyring: Keyring) -> None:
    header = f"# parcours dev encryption keys (first = current). Development only; production uses {ENV_VAR}.\n"
    body = "\n".join(format_key(key_id, key) for key_id, key in keyring.keys) + "\n"
    write_secret_file(path, header + body)
