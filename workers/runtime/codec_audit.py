"""Audit of the codec server: one ``codec_audit`` row per case and request, written before any clear data leaves.

The case is named by the payloads themselves: our encoder writes the workflow id in each payload's metadata and
binds it into the encryption (``workers.runtime.codec``), so a decoded payload's id is authenticated. Only payloads
without an id (encoded before ids were embedded, or by ``/encode``) fall back to what the client claimed, and the
row says so (``workflow_id_source = 'client'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import asyncpg
from temporalio.api.common.v1 import Payload

from workers.runtime.codec import EncryptionCodec


@dataclass(frozen=True)
class AuditEntry:
    token_name: str
    operation: str  # "decode" or "encode"
    namespace: str | None
    workflow_id: str | None
    workflow_id_source: str | None  # "payload", "client" or None
    payload_count: int
    key_ids: tuple[str, ...]
    outcome: str  # "decoded", "failed" or "encoded"
    origin: str | None
    client: str | None


@dataclass(frozen=True)
class Case:
    """The payloads of one request that belong to one workflow (or to none known)."""

    workflow_id: str | None
    source: str | None
    payloads: tuple[Payload, ...]
    failed: bool


def cases(payloads: Sequence[Payload], failed: set[int], claimed_workflow_id: str | None) -> list[Case]:
    """Group the payloads by the workflow id they carry, in order of first appearance; ``failed`` holds the
    indexes of those that could not be decoded."""
    groups: dict[tuple[str | None, str | None], list[int]] = {}
    for index, payload in enumerate(payloads):
        embedded = EncryptionCodec.workflow_id_of(payload)
        if embedded:
            key = (embedded[:1000], "payload")
        else:
            key = (claimed_workflow_id, "client" if claimed_workflow_id else None)
        groups.setdefault(key, []).append(index)
    return [Case(workflow_id, source, tuple(payloads[i] for i in indexes), any(i in failed for i in indexes))
            for (workflow_id, source), indexes in groups.items()]


def key_ids(payloads: Sequence[Payload]) -> tuple[str, ...]:
    return tuple(sorted({k for k in map(EncryptionCodec.key_id_of, payloads) if k}))


class AuditLog:
    """Adapter writing ``codec_audit`` rows (migrations 005, 015) through an asyncpg pool, all or none."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, entries: Sequence[AuditEntry]) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(
                """INSERT INTO codec_audit (token_name, operation, namespace, workflow_id, workflow_id_source,
                                            payload_count, key_ids, outcome, origin, client)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                [(e.token_name, e.operation, e.namespace, e.workflow_id, e.workflow_id_source, e.payload_count,
                  list(e.key_ids), e.outcome, e.origin, e.client) for e in entries],
            )
