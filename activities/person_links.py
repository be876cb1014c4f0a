"""One person, one pathway, whichever identity brings them in (issue 19, docs/caseload.md « Identity »).

A person a caseload adopted by CAF matricule + rank (no NIR in the former tool) has a pathway under the key of
that matricule and rank. The first file that brings the person's NIR with the same matricule and rank (a CAF
flow, a caseload row giving both) links the NIR's person id to that pathway in ``caseload_person_links``; the
flow import and the caseload import resolve every person id through the links before anything else, so the NIR
never starts a second pathway. A link is made only when it is unambiguous: one adoption under the key, and no
pathway of the NIR's own; when the NIR has its own pathway too, both are left as they are and the SLAI manager gets
an ``IDENTITY_TWO_PATHWAYS`` task on the adopted one (opaque pathway ids only) to merge them by hand.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from activities.tasks import NewTask, TaskStore
from domain.pathway_constants import pathway_workflow_id
from domain.tasks import slai_manager

TWO_PATHWAYS = "IDENTITY_TWO_PATHWAYS"


class PersonLinks:
    """Adapter over ``caseload_person_links`` and ``caseload_adoptions`` (migration 050), and the pathways' read
    model for whether a pathway a flow would reach has finished; pool injected."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def resolve(self, people: list[tuple[str, str | None]], file_digest: str, *, record: bool = True
                      ) -> dict[str, str]:
        """``{person id: the person id of their pathway}`` for the ``(person id, CAF key)`` pairs that are someone
        else's pathway, making the links this file shows; the others are left out (they are their own). With
        ``record`` False (a dry run) the links this file would make are in the answer, none is written."""
        ids = sorted({pid for pid, _ in people})
        if not ids:
            return {}
        links = {r["person_id"]: r["linked_person_id"] for r in await self._pool.fetch(
            "SELECT person_id, linked_person_id FROM caseload_person_links WHERE person_id = ANY($1::text[])", ids)}
        keys = {pid: key for pid, key in people if key and key != pid and pid not in links}
        if not keys:
            return links
        adopted: dict[str, set[str]] = {}
        for r in await self._pool.fetch(
                "SELECT caf_key, person_id FROM caseload_adoptions WHERE caf_key = ANY($1::text[])",
                sorted(set(keys.values()))):
            adopted.setdefault(r["caf_key"], set()).add(r["person_id"])
        candidates = {pid: next(iter(adopted[key])) for pid, key in keys.items()
                      if len(adopted.get(key, ())) == 1 and pid not in adopted[key]}
        if not candidates:
            return links
        own = await self._own_pathways(sorted(candidates))
        if not record:
            return links | {pid: target for pid, target in candidates.items() if pid not in own}
        new = [(pid, target, pathway_workflow_id(target), keys[pid], file_digest)
               for pid, target in candidates.items() if pid not in own]
        await self._two_pathways({pid: target for pid, target in candidates.items() if pid in own}, file_digest)
        if new:
            await self._pool.executemany(
                """INSERT INTO caseload_person_links (person_id, linked_person_id, pathway_id, caf_key, file_digest)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (person_id) DO NOTHING""", new)
            rows = await self._pool.fetch("""SELECT person_id, linked_person_id FROM caseload_person_links
                                             WHERE person_id = ANY($1::text[])""", [n[0] for n in new])
            links.update({r["person_id"]: r["linked_person_id"] for r in rows})
        return links

    async def adopted(self, person_ids: list[str]) -> list[str]:
        """Persons whose adopted pathway no flow has reached yet (no flow state, or one older than the adoption
        saying no pathway): a flow's first entry event reaches a known pathway, not a new one, and keeps the
        territory the adoption set. A pathway a flow since found closed counts as gone, as any other, and one
        that has finished is left to :meth:`finished`."""
        rows = await self._pool.fetch(
            """SELECT a.person_id FROM caseload_adoptions a LEFT JOIN flux_observations o USING (person_id)
               WHERE a.person_id = ANY($1::text[]) AND a.status = 'started'
                 AND (o.person_id IS NULL OR (NOT o.pathway AND o.updated_at < a.created_at))""", person_ids)
        return [r["person_id"] for r in rows]

    async def finished(self, person_ids: list[str], written_before: datetime | None = None) -> dict[str, int]:
        """``{person id: read-model version}`` of the persons whose pathway has finished: closed, with no re-entry
        window open (T25: a re-entry within it resumes the same referent). A flow's entry then starts a new
        pathway under the same id, counted as new whether the former one was adopted or started by a flow.

        ``written_before``: only rows last written before that instant. A flow slice passes its first
        scheduling time, so that every attempt of a slice plans the same: a pathway closed by an earlier
        attempt's own signals (killed mid-slice) is not "finished" for the retry, which would start it anew."""
        if not person_ids:
            return {}
        rows = await self._pool.fetch(
            """SELECT p.person_id, p.version FROM pathways p
               WHERE p.pathway_id = ANY($1::text[]) AND p.closed_on IS NOT NULL
                 AND ($2::timestamptz IS NULL OR p.updated_at < $2)
                 AND NOT EXISTS (SELECT 1 FROM deadlines d WHERE d.pathway_id = p.pathway_id
                                 AND d.kind = 'REENTRY_WINDOW' AND d.status IN ('PENDING', 'PAUSED'))""",
            [pathway_workflow_id(pid) for pid in person_ids], written_before)
        return {r["person_id"]: r["version"] for r in rows}

    async def _two_pathways(self, both: dict[str, str], file_digest: str) -> None:
        """A person followed under the NIR and under the CAF matricule + rank: a task to merge them by hand."""
        if not both:
            return
        adopted = [pathway_workflow_id(target) for target in both.values()]
        territories = {r["pathway_id"]: r["territory"] for r in await self._pool.fetch(
            "SELECT pathway_id, territory FROM pathways WHERE pathway_id = ANY($1::text[])", adopted)}
        tasks = []
        for pid, target in both.items():
            workflow_id, other = pathway_workflow_id(target), pathway_workflow_id(pid)
            tasks.append(NewTask(task_key=f"{workflow_id}:{TWO_PATHWAYS}:{other}", workflow_id=workflow_id,
                                 kind=TWO_PATHWAYS, assignee=slai_manager(territories.get(workflow_id, "UNASSIGNED")),
                                 details={"other_pathway_id": other, "file_digest": file_digest}))
        await TaskStore.create(self._pool, tasks)

    async def _own_pathways(self, person_ids: list[str]) -> set[str]:
        """Persons who already have a pathway of their own (adopted, started by a flow, or in the read model)."""
        rows = await self._pool.fetch(
            """SELECT person_id FROM caseload_adoptions WHERE person_id = ANY($1::text[])
               UNION SELECT person_id FROM flux_observations WHERE person_id = ANY($1::text[]) AND pathway
               UNION SELECT person_id FROM pathways WHERE pathway_id = ANY($2::text[])""",
            person_ids, [pathway_workflow_id(pid) for pid in person_ids])
        return {r["person_id"] for r in rows}
