"""Quarantine of rejected flow records (PostgreSQL ``flux_quarantine``, migration 004).

A rejected record is never dropped silently: it is stored by (file digest, position) with its reasons and
the hash of its raw content (not the content: the NIRs and names stay in the dropped file). The import
ledger row is written in the same transaction, so a retried activity, a re-imported file or a resumed
import stores each rejection once and knows the record is handled.
"""

from __future__ import annotations

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from domain.flux import ParsedRecord


class QuarantinedRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    position: int = Field(ge=0)
    reason_codes: tuple[str, ...]
    reason: str
    record_hash: str | None = None  # None when the record could not be read (truncated file)


class QuarantineBatch(BaseModel):
    file_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    records: list[QuarantinedRecord]


class QuarantineResult(BaseModel):
    stored: int  # newly quarantined by this call
    already_quarantined: int  # stored by an earlier call (retry, same file imported again)


def quarantine_entry(record: ParsedRecord) -> QuarantinedRecord:
    """The storable form of a rejected record (reasons never hold personal data)."""
    if record.accepted:
        raise ValueError("only rejected records go to quarantine")
    return QuarantinedRecord(
        position=record.position,
        reason_codes=tuple(code.value for code in record.reason_codes),
        reason=record.reason,
        record_hash=record.record_hash or None,
    )


_INSERT_QUARANTINE = """
    INSERT INTO flux_quarantine (file_digest, position, reason_codes, reason, record_hash)
    SELECT $1, t.position, string_to_array(t.codes, ','), t.reason, t.record_hash
      FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) AS t(position, codes, reason, record_hash)
    ON CONFLICT (file_digest, position) DO NOTHING
    RETURNING position
"""

_INSERT_LEDGER = """
    INSERT INTO flux_import_ledger (file_digest, position, outcome, record_hash)
    SELECT $1, t.position, 'rejected', t.record_hash
      FROM unnest($2::int[], $3::text[]) AS t(position, record_hash)
    ON CONFLICT (file_digest, position) DO NOTHING
"""


class QuarantineStore:
    """Adapter over ``flux_quarantine`` with an injected pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def store(self, batch: QuarantineBatch) -> QuarantineResult:
        if not batch.records:
            return QuarantineResult(stored=0, already_quarantined=0)
        positions = [r.position for r in batch.records]
        if len(set(positions)) != len(positions):
            raise ValueError("a batch holds one record per position")
        hashes = [r.record_hash for r in batch.records]
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetch(
                _INSERT_QUARANTINE, batch.file_digest, positions,
                [",".join(r.reason_codes) for r in batch.records], [r.reason for r in batch.records], hashes,
            )
            await conn.execute(_INSERT_LEDGER, batch.file_digest, positions, hashes)
        return QuarantineResult(stored=len(inserted), already_quarantined=len(positions) - len(inserted))

    async def open_records(self, file_digest: str) -> list[QuarantinedRecord]:
        """The unresolved quarantined records of a file, in file order."""
        rows = await self._pool.fetch(
            """SELECT position, reason_codes, reason, record_hash FROM flux_quarantine
                WHERE file_digest = $1 AND resolved_at IS NULL ORDER BY position""",
            file_digest,
        )
        return [QuarantinedRecord(position=r["position"], reason_codes=tuple(r["reason_codes"]), reason=r["reason"],
                                  record_hash=r["record_hash"]) for r in rows]
