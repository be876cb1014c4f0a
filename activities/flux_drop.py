"""The drop directory the daily ``FluxDropScan`` imports from: the files there not imported yet."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from temporalio import activity

from activities.cnaf_parser import file_digest
from activities.drop_files import discard_imported
from domain.flux_import import DropScanInput, DroppedFile

_IGNORED_SUFFIXES = (".part", ".tmp", ".partial")


class DropDirectory:
    """Lists the drop directory against ``flux_files`` (a file imported already is removed, not listed)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool


    async def list_new(self, req: DropScanInput) -> list[DroppedFile]:
        """Regular files of the drop directory not imported yet, oldest first (by modification time).

        Hidden files and ``*.part`` / ``*.tmp`` are skipped: writers drop a file under a temporary name
        and rename it when complete.
        """
        directory = Path(req.drop_dir)
        if not directory.is_dir():
            return []
        candidates = sorted(
            (p for p in directory.iterdir()
             if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_IGNORED_SUFFIXES)),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
        files: list[DroppedFile] = []
        for path in candidates:
            if activity.in_activity():
                activity.heartbeat(path.name)
            digest = await asyncio.to_thread(file_digest, path)
            files.append(DroppedFile(file_path=str(path.resolve()), file_name=path.name, file_digest=digest))
        if not files:
            return []
        imported = {r["file_digest"] for r in await self._pool.fetch(
            "SELECT file_digest FROM flux_files WHERE file_digest = ANY($1::text[]) AND status = 'imported'",
            [f.file_digest for f in files])}
        seen: set[str] = set()
        fresh = []
        for f in files:
            if f.file_digest in imported:  # dropped again after its import: nothing to keep it for
                await asyncio.to_thread(discard_imported, f.file_path, f.file_digest)
                continue
            if f.file_digest in seen:
                continue
            seen.add(f.file_digest)
            fresh.append(f)
        return fresh
