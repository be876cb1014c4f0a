"""Numbered SQL migrations (``workers/runtime/migrations/NNN_name.sql``), each applied once, in order.

Applied versions are recorded in ``schema_migrations``; an advisory lock makes concurrent runs safe,
so running ``parcours db migrate`` twice (or from two workers) does nothing the second time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x5A7C0_2026


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name} must be named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations share number {version:03d}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


async def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration; return those applied by this call."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            applied = []
            for migration in discover(directory):
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version, migration.name,
                    )
                applied.append(migration)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    finally:
        await conn.close()
