"""Activities of ``CaseloadImport`` (issue 19): count a caseload file, then adopt a slice of its rows.

Exactly once per person and per (file, row):

* a row with an outcome in ``caseload_import_rows`` is skipped (retried attempt, resumed import);
* a person in ``caseload_adoptions`` is not started again: the same row is ``unchanged``, a changed row is refused
  (``CHANGED_ROW``). Its ledger row is written (``starting``) before the pathway is started, with a memo naming
  the file and row; a retry that finds the pathway already started with that memo completes the adoption, one
  started otherwise (a pathway that lives here) refuses the row (``PATHWAY_EXISTS``); one that has finished
  (closed, no re-entry window open) is no pathway: the row starts a new one under the same id, numbered above the
  former's read-model version, as a flow's re-entry does (T25);
* with ``update``, a changed row re-adopts a pathway nothing happened to since its adoption (``_readopt``);
* rejections are kept with their code and reason (``rejections``), never the row's personal data.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import asyncpg
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.caseload_file import CaseloadMapping, caseload_rows
from activities.cnaf_parser import FluxUnreadable, file_digest
from activities.person_links import PersonLinks
from activities.retention import PATHWAY_TABLES
from domain.caseload import CaseloadCase, CaseloadRejection, RowRejected, judge_row
from domain.caseload_adoption import adopt
from domain.caseload_import import IMPORT_SLICE, SURVEY, CaseloadSlice, RowOutcome, SliceOutcome
from domain.pathway import PathwayInput, PathwayState
from domain.pathway_contract import WORKFLOW_TYPE as PATHWAY_TYPE
from domain.pathway_constants import pathway_workflow_id

MEMO_KEY = "caseload"
#: A re-adopted pathway's rows, rewritten from its new row (the ledgers stay).
READ_MODEL_TABLES = [(table, column) for table, column in PATHWAY_TABLES if not table.startswith("caseload_")]
SOURCE = "CASELOAD"


def judge(raw: dict[str, str | None], row: int, today: date, now: datetime, secret: bytes, *, file_digest_: str,
          past_breaches: bool) -> tuple[CaseloadCase, PathwayState] | RowOutcome:
    """A row as the case and its pathway at its stage, or its rejection (also what ``--dry-run`` shows)."""
    return adopt_row(judge_row(raw, row, today, secret), today, now, file_digest_=file_digest_,
                     past_breaches=past_breaches)


def adopt_row(case: CaseloadCase | CaseloadRejection, today: date, now: datetime, *, file_digest_: str,
              past_breaches: bool) -> tuple[CaseloadCase, PathwayState] | RowOutcome:
    row = case.row
    if not isinstance(case, CaseloadCase):
        return RowOutcome(row=row, outcome="rejected", code=case.code, reason=case.reason)
    try:
        state = adopt(case, now, today, source=SOURCE, file_digest=file_digest_, past_breaches=past_breaches)
    except RowRejected as exc:
        return RowOutcome(row=row, outcome="rejected", code=exc.code, reason=str(exc))
    return case, state


def prior_adoption(case: CaseloadCase, known: Mapping[str, Any] | None, digest: str, update: bool
                   ) -> RowOutcome | Literal["adopt", "readopt"]:
    """What the person's adoption ledger row (``known``) makes of a valid row: the same row ``unchanged``, a
    changed one refused (``CHANGED_ROW``) or, with ``update``, re-adopted; else adopted (also when this file and
    row's own adoption is still ``starting``: an attempt that died completes it)."""
    ours = known is not None and (known["file_digest"], known["row_number"]) == (digest, case.row)
    if known is None or (ours and known["status"] == "starting"):
        return "adopt"
    if known["row_digest"] == case.row_digest:
        return RowOutcome(row=case.row, outcome="unchanged", stage=known["stage"])
    if update:
        return "readopt"
    return RowOutcome(row=case.row, outcome="rejected", code="CHANGED_ROW",
                      reason=f"this person was adopted from another row (row {known['row_number']}) "
                             "with other values; a changed row is not applied")


def pathway_exists(row: int) -> RowOutcome:
    return RowOutcome(row=row, outcome="rejected", code="PATHWAY_EXISTS",
                      reason="this person already has a pathway here: a running case is not adopted twice")


def pathway_moved(row: int) -> RowOutcome:
    return RowOutcome(row=row, outcome="rejected", code="PATHWAY_MOVED",
                      reason="the adopted pathway has events since its adoption: a changed row is not applied over them")


def _memo(digest: str, row: int) -> str:
    return f"{digest[:16]}:{row}"


class CaseloadImporter:
    """PostgreSQL pool, person-id secret and (outside an activity) a Temporal client injected."""

    def __init__(self, pool: asyncpg.Pool, person_id_secret: bytes, client: Client | None = None) -> None:
        self._pool = pool
        self._secret = person_id_secret
        self._client = client
        self._links = PersonLinks(pool)

    @property
    def client(self) -> Client:
        return self._client if self._client is not None else activity.client()

    async def survey(self, path: str, digest: str, mapping: dict) -> int:
        try:
            actual = await asyncio.to_thread(file_digest, Path(path))
            if actual != digest:
                raise ApplicationError(f"{Path(path).name} changed since the import started (digest differs)",
                                       type="CASELOAD_FILE_CHANGED", non_retryable=True)
            return await asyncio.to_thread(lambda: sum(1 for _ in caseload_rows(path, CaseloadMapping(**mapping))))
        except (FluxUnreadable, OSError) as exc:
            raise ApplicationError(str(exc), type="CASELOAD_UNREADABLE", non_retryable=True) from None

    async def import_slice(self, req: CaseloadSlice, heartbeat: Callable[..., None] = lambda *a: None) -> SliceOutcome:
        done = {r["row_number"]: r["outcome"] for r in await self._pool.fetch(
            """SELECT row_number, outcome FROM caseload_import_rows
               WHERE file_digest = $1 AND row_number BETWEEN $2 AND $3""", req.file_digest, req.first, req.last)}
        result = SliceOutcome()
        for outcome in done.values():  # handled by an attempt that died: counted, not done again
            result.add(outcome)
        now = datetime.now(timezone.utc)
        mapping = CaseloadMapping(**req.mapping)
        for number, raw in caseload_rows(req.file_path, mapping, first=req.first):
            if number in done:
                continue
            if number > req.last:
                break
            judged, _ = await self._judged(raw, number, req.today, now, req.file_digest, req.past_breaches)
            outcome = judged if isinstance(judged, RowOutcome) else await self._adopt(*judged, req, now)
            await self._record(req.file_digest, outcome, None if isinstance(judged, RowOutcome)
                               else pathway_workflow_id(judged[0].person_id))
            result.add(outcome.outcome)
            heartbeat(number)
        return result

    async def _judged(self, raw: dict[str, str | None], number: int, today: date, now: datetime, digest: str,
                      past_breaches: bool, *, record: bool = True
                      ) -> tuple[tuple[CaseloadCase, PathwayState] | RowOutcome, bool]:
        """A row judged as the import does, its NIR resolved through the identity links (a NIR linked to a pathway
        adopted by CAF matricule + rank is that pathway's person); and whether it was resolved so. ``record``
        False (the dry run) makes no link, only finds the one the import would make."""
        case = judge_row(raw, number, today, self._secret)
        linked = False
        if isinstance(case, CaseloadCase):
            links = await self._links.resolve([(case.person_id, case.caf_key)], digest, record=record)
            linked = case.person_id in links
            case = case.model_copy(update={"person_id": links.get(case.person_id, case.person_id)})
        return adopt_row(case, today, now, file_digest_=digest, past_breaches=past_breaches), linked

    async def preview(self, path: str, mapping: CaseloadMapping, today: date, now: datetime, digest: str, *,
                      past_breaches: bool, update: bool) -> list[tuple[RowOutcome, bool]]:
        """``--dry-run`` against this database: each row's outcome as the import would give it today (links
        looked up, never made; adoptions and pathways read, nothing started), and whether its NIR is linked.
        A changed row with ``update`` reads its pathway's history through the client, as the import does: one
        that lived since its adoption is refused (``PATHWAY_MOVED``), else ``updated``."""
        outcomes = []
        earlier: dict[str, dict[str, Any]] = {}  # a person met earlier in the file: adopted by then
        for number, raw in caseload_rows(path, mapping):
            judged, linked = await self._judged(raw, number, today, now, digest, past_breaches, record=False)
            if isinstance(judged, tuple):
                case, state = judged
                known = earlier.get(case.person_id) or await self._pool.fetchrow(
                    "SELECT * FROM caseload_adoptions WHERE person_id = $1", case.person_id)
                judged = prior_adoption(case, known, digest, update)
                if judged == "readopt":
                    judged = (pathway_moved(number) if await self._readoption(case, digest) == "moved"
                              else RowOutcome(row=number, outcome="updated", stage=state.stage.value))
                elif judged == "adopt":
                    judged = await self._fresh(case, state)
                if judged.outcome == "adopted":
                    earlier[case.person_id] = {"file_digest": digest, "row_number": number, "status": "started",
                                               "row_digest": case.row_digest, "stage": judged.stage}
            outcomes.append((judged, linked))
        return outcomes

    async def _fresh(self, case: CaseloadCase, state: PathwayState) -> RowOutcome:
        """A person not adopted yet: adopted, unless a pathway of theirs already lives here (``PATHWAY_EXISTS``);
        one that has finished does not count (:meth:`_finished`)."""
        lives = await self._pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM flux_observations WHERE person_id = $1 AND pathway)
                   OR EXISTS (SELECT 1 FROM pathways WHERE pathway_id = $2)""",
            case.person_id, pathway_workflow_id(case.person_id))
        if lives and await self._finished(case) is None:
            return pathway_exists(case.row)
        return RowOutcome(row=case.row, outcome="adopted", stage=state.stage.value)

    async def _finished(self, case: CaseloadCase) -> int | None:
        """The read-model version of the person's former pathway when it has finished (closed, no re-entry window
        open: T25), the new one's sequence base; None when there is none or it may still resume."""
        return (await self._links.finished([case.person_id])).get(case.person_id)

    async def _adopt(self, case: CaseloadCase, state: PathwayState, req: CaseloadSlice, now: datetime) -> RowOutcome:
        pid = pathway_workflow_id(case.person_id)
        known = await self._pool.fetchrow("SELECT * FROM caseload_adoptions WHERE person_id = $1", case.person_id)
        decision = prior_adoption(case, known, req.file_digest, req.update)
        if isinstance(decision, RowOutcome):
            return decision
        if decision == "readopt":
            return await self._readopt(case, req)
        former = await self._finished(case)
        if former is not None:  # a new pathway under the same id, its changes numbered above the former's
            state = adopt(case, now, req.today, source=SOURCE, file_digest=req.file_digest,
                          past_breaches=req.past_breaches, seq_base=former)
        if known is None:
            await self._pool.execute(
                """INSERT INTO caseload_adoptions (person_id, pathway_id, file_digest, row_number, row_digest, source,
                       stage, adopted_on, past_breaches, caf_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
                   ON CONFLICT (person_id) DO NOTHING""",
                case.person_id, pid, req.file_digest, case.row, case.row_digest, SOURCE, state.stage.value,
                req.today, req.past_breaches, case.caf_key)
        try:
            await self.client.start_workflow(
                PATHWAY_TYPE, PathwayInput(person_id=case.person_id, territory=case.territory, adoption=state),
                id=pid, task_queue=req.pathway_task_queue, memo={MEMO_KEY: _memo(req.file_digest, case.row)},
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=(WorkflowIDReusePolicy.REJECT_DUPLICATE if former is None
                                 else WorkflowIDReusePolicy.ALLOW_DUPLICATE),
            )
        except WorkflowAlreadyStartedError:
            described = await self.client.get_workflow_handle(pid).describe()
            if (await described.memo_value(MEMO_KEY, None)) != _memo(req.file_digest, case.row):
                await self._pool.execute("DELETE FROM caseload_adoptions WHERE person_id = $1 AND status = 'starting'",
                                         case.person_id)
                return pathway_exists(case.row)
        await self._pool.execute("UPDATE caseload_adoptions SET status = 'started' WHERE person_id = $1", case.person_id)
        return RowOutcome(row=case.row, outcome="adopted", stage=state.stage.value)

    async def _readopt(self, case: CaseloadCase, req: CaseloadSlice) -> RowOutcome:
        """``--update``: a changed row replaces an adopted pathway nothing happened to since (no signal, no update,
        no new run); its read-model rows are rewritten from the new row. Repeatable: a pathway already started
        with this file and row only has its ledger row updated."""
        pid = pathway_workflow_id(case.person_id)
        readoption = await self._readoption(case, req.file_digest)
        if readoption == "moved":
            return pathway_moved(case.row)
        if readoption != "done":
            if readoption == "running":
                await self.client.get_workflow_handle(pid).terminate("caseload row updated")
            async with self._pool.acquire() as conn, conn.transaction():
                version = await conn.fetchval("SELECT version FROM pathways WHERE pathway_id = $1", pid) or 0
                for table, column in [*READ_MODEL_TABLES, ("pathways", "pathway_id")]:
                    await conn.execute(f"DELETE FROM {table} WHERE {column} = $1", pid)
            state = adopt(case, datetime.now(timezone.utc), req.today, source=SOURCE, file_digest=req.file_digest,
                          past_breaches=req.past_breaches, seq_base=version + 1)
            await self.client.start_workflow(
                PATHWAY_TYPE, PathwayInput(person_id=case.person_id, territory=case.territory, adoption=state),
                id=pid, task_queue=req.pathway_task_queue, memo={MEMO_KEY: _memo(req.file_digest, case.row)},
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
            stage = state.stage.value
        else:
            stage = case.stage.value
        await self._pool.execute(
            """UPDATE caseload_adoptions SET file_digest = $2, row_number = $3, row_digest = $4, stage = $5,
                   adopted_on = $6, past_breaches = $7, caf_key = COALESCE($8, caf_key), status = 'started'
               WHERE person_id = $1""",
            case.person_id, req.file_digest, case.row, case.row_digest, stage, req.today, req.past_breaches,
            case.caf_key)
        return RowOutcome(row=case.row, outcome="updated", stage=stage)

    async def _readoption(self, case: CaseloadCase, digest: str) -> Literal["done", "moved", "running", "closed"]:
        """What ``--update`` finds of the person's adopted pathway (read only): ``done`` when its run is this file
        and row's, ``moved`` when it lived since its adoption (refused), else whether it is to be terminated
        (``running``) or is over (``closed``) before it starts again."""
        handle = self.client.get_workflow_handle(pathway_workflow_id(case.person_id))
        described = await handle.describe()
        if described.status is not WorkflowExecutionStatus.RUNNING:
            return "closed"
        if (await described.memo_value(MEMO_KEY, None)) == _memo(digest, case.row):
            return "done"
        return "moved" if await _moved_since_start(handle) else "running"

    async def _record(self, digest: str, outcome: RowOutcome, pathway_id: str | None) -> None:
        await self._pool.execute(
            """INSERT INTO caseload_import_rows (file_digest, row_number, outcome, code, reason, pathway_id)
               VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING""",
            digest, outcome.row, outcome.outcome, outcome.code, outcome.reason,
            pathway_id if outcome.outcome != "rejected" else None)

    async def rejections(self, digest: str) -> list[RowOutcome]:
        """The quarantined rows of an import, with their reason (the CLI and the API read them)."""
        rows = await self._pool.fetch(
            """SELECT row_number, code, reason FROM caseload_import_rows WHERE file_digest = $1 AND outcome = 'rejected'
               ORDER BY row_number""", digest)
        return [RowOutcome(row=r["row_number"], outcome="rejected", code=r["code"], reason=r["reason"]) for r in rows]


async def _moved_since_start(handle) -> bool:
    """True when the run received a signal or an update, or is not the adoption's own run (continued as new)."""
    moved = {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED and \
                event.workflow_execution_started_event_attributes.continued_execution_run_id:
            return True
        if event.event_type in moved:
            return True
    return False


class CaseloadImportActivities:
    """Temporal activities over :class:`CaseloadImporter` (built in ``workers/runtime/registry.py``)."""

    def __init__(self, pool: asyncpg.Pool, person_id_secret: bytes, client: Client | None = None) -> None:
        self.importer = CaseloadImporter(pool, person_id_secret, client)

    @activity.defn(name=SURVEY)
    async def survey(self, path: str, digest: str, mapping: dict) -> int:
        return await self.importer.survey(path, digest, mapping)

    @activity.defn(name=IMPORT_SLICE)
    async def import_slice(self, req: CaseloadSlice) -> SliceOutcome:
        return await self.importer.import_slice(req, heartbeat=activity.heartbeat)

    def all(self) -> list:
        return [self.survey, self.import_slice]
