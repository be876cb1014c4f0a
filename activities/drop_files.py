"""Files of the drop directory hold personal data in clear (CAF/MSA flows): readable by their owner only while
they wait, and gone once imported (the import's ledger and read model keep what is needed, never the file)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from activities.cnaf_parser import file_digest

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(directory: Path) -> Path:
    """``directory``, created owner-only if missing (an existing one keeps its mode: it may be a mounted volume)."""
    directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    return directory


def write_private_copy(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` (mode 0600) under a hidden ``.part`` name first, so a scan never reads half."""
    partial = target.with_name(f".{target.name}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out)
    os.replace(partial, target)
    return target


def write_private_bytes(data: bytes, target: Path) -> Path:
    """``data`` as ``target`` (mode 0600), written under a hidden ``.part`` name first (an upload, issue 19)."""
    partial = target.with_name(f".{target.name}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(partial, target)
    return target


def make_private(path: Path) -> None:
    os.chmod(path, PRIVATE_FILE)


def discard_imported(path: str | Path, digest: str) -> bool:
    """Remove the imported file, only if it is still the very content that was imported (a new file dropped
    under the same name is left alone). True if removed; a file already gone is fine (retries)."""
    path = Path(path)
    try:
        if not path.is_file() or file_digest(path) != digest:
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True
