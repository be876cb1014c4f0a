"""Secrets of services (API tokens, codec tokens, encryption keys): from an environment variable in
production, from a file of ``parcours dev``'s home created once (mode 0600) in development."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Callable, Mapping


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """Only digests of tokens are kept in memory; compare them with ``hmac.compare_digest``."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def write_secret_file(path: Path, content: str) -> None:
    """Write ``content`` readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def dev_secret_file(path: Path, create: Callable[[], str]) -> str:
    """The content of a development secret file, written with ``create()`` the first time."""
    if not path.exists():
        write_secret_file(path, create())
    return path.read_text(encoding="utf-8")


def configured_secret(
    env_var: str,
    settings_dir: Path | None,
    dev_file: str,
    create: Callable[[], str],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """``env_var``'s value, else (development: ``settings_dir`` given) the dev file's content, else None."""
    env = os.environ if environ is None else environ
    spec = env.get(env_var, "").strip()
    if spec:
        return spec
    if settings_dir is None:
        return None
    return dev_secret_file(Path(settings_dir) / dev_file, create)
