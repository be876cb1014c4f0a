"""Activities of the ``FluxImport`` and ``FluxDropScan`` workflows: survey a flow file, import a slice of
its positions into pathways, finish, and list the new files of a drop directory.

Exactly once, per (file digest, position):

* a position in ``flux_import_ledger`` is skipped (retried attempt, resumed import, same file again);
* a household's new observations (``flux_observations``) and its ledger row are written in one
  transaction, after its signals were sent; until then the previous observation stays, so a retry derives
  the same events with the same ids (:func:`domain.flux_events.derive_events` is pure);
* before sending, the positions of the chunk are written to ``flux_signal_intents``; a position found
  there by a later attempt (the worker died mid-chunk) gets each signal checked in the pathway's history
  and sent only if absent. The pathway also ignores an event id it has seen (last line of defence);
* one attempt at a time per slice: a PostgreSQL advisory lock, released when the attempt's connection
  closes (also when its process is killed).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.cnaf_parser import FluxRefused, FluxUnreadable, file_digest
from activities.drop_files import discard_imported
from activities.flux_delivery import PathwayDelivery
from activities.flux_drop import DropDirectory
from activities.flux_reading import flow_source, make_reader, records_between, rules_for_flow, slice_header, unreadable
from activities.person_links import PersonLinks
from activities.quarantine import QuarantineBatch, QuarantineStore, quarantine_entry
from activities.tasks import NewTask, TaskStore
from domain import flux_events as fe
from domain.flux import FluxHeader, FluxSummary, Issue, ParsedRecord, RejectionCode
from domain.flux_import import (
    FINISH,
    IMPORT_SLICE,
    LIST_DROPPED,
    SURVEY,
    DropScanInput,
    DroppedFile,
    FileSurvey,
    FinishRequest,
    FluxImportResult,
    PathwaySignal,
    SliceProgress,
    SliceRequest,
    SliceResult,
    SurveyRequest,
    household_signals,
    pathway_signal,
)
from domain.pathway_constants import pathway_workflow_id
from domain.tasks import slai_manager
from domain.territory import UNASSIGNED, CommuneTable

CHUNK = 25  # households per transaction / heartbeat
_HEARTBEAT_EVERY = 1000  # records, during the survey

class FluxImporter:
    """The import adapter: PostgreSQL pool, Temporal client and person-id secret injected.

    ``client`` may be None inside an activity: the worker's own client is used then.
    """

    def __init__(self, pool: asyncpg.Pool, person_id_secret: bytes, client: Client | None = None,
                 communes: CommuneTable | None = None,
                 delivery: Callable[[Client], PathwayDelivery] = PathwayDelivery) -> None:
        self._pool = pool
        self._communes = communes
        self._secret = person_id_secret
        self._client = client
        self._delivery = delivery  # tests/flux_import_harness.py slows it down to kill a worker mid-delivery
        self._quarantine = QuarantineStore(pool)
        self._links = PersonLinks(pool)

    @property
    def client(self) -> Client:
        return self._client if self._client is not None else activity.client()

    # ------------------------------------------------------------------ survey

    async def survey(self, req: SurveyRequest, heartbeat: Callable[..., None] = lambda *a: None) -> FileSurvey:
        """Check the file is the one named by its digest, count what it holds, record it in ``flux_files``."""
        path = Path(req.file_path)
        try:
            digest = await asyncio.to_thread(file_digest, path)
        except OSError as exc:
            message = f"cannot read {path.name}: {exc.strerror or exc}"
            await self._mark_unreadable(req, message)
            raise unreadable(message) from None
        if digest != req.file_digest:
            raise ApplicationError(f"{path.name} changed since the import started (digest differs)",
                                   type="FLUX_FILE_CHANGED", non_retryable=True)
        summary = FluxSummary(keep_rejected=0)  # counts only: the slices quarantine every rejection
        last_position = 0
        header_issues: list[ParsedRecord] = []
        try:
            reader = make_reader(path, req.source, req.mapping)
            for count, record in enumerate(reader, start=1):
                if record.position == 0:
                    header_issues.append(record)
                    continue
                last_position = max(last_position, record.position)
                summary.add(record)
                if count % _HEARTBEAT_EVERY == 0:
                    heartbeat(count)
                    await asyncio.sleep(0)
        except FluxUnreadable as exc:
            refused = isinstance(exc, FluxRefused)
            await self._mark_unreadable(req, str(exc), refused)
            raise unreadable(str(exc), refused) from None
        header = getattr(reader, "header", None) or FluxHeader()
        if header_issues:
            await self._quarantine.store(QuarantineBatch(
                file_digest=req.file_digest, records=[quarantine_entry(header_issues[0])]))
        for position, reason in getattr(reader, "file_warnings", lambda: [])():
            summary.warn(position, reason)
        survey = FileSurvey(
            last_position=last_position, households=summary.households, persons=summary.persons,
            subject_to_duties=summary.subject_to_duties, rejected=summary.rejected_count + len(header_issues[:1]),
            flow_date=header.creation_date, flow_type=header.flow_type,
            subject_to_duties_unknown=summary.subject_to_duties_unknown, warnings=summary.warning_count,
        )
        await self._pool.execute(
            """INSERT INTO flux_files (file_digest, file_name, source, flow_type, flow_date, byte_size, status,
                   households, rejected)
               VALUES ($1, $2, $3, $4, $5, $6, 'importing', $7, $8)
               ON CONFLICT (file_digest) DO UPDATE SET households = EXCLUDED.households,
                   rejected = EXCLUDED.rejected, flow_type = EXCLUDED.flow_type, flow_date = EXCLUDED.flow_date
               WHERE flux_files.status <> 'imported'""",
            req.file_digest, path.name, req.source, survey.flow_type, survey.flow_date, path.stat().st_size,
            survey.households, survey.rejected,
        )
        return survey

    async def _mark_unreadable(self, req: SurveyRequest, failure: str, refused: bool = False) -> None:
        """The file's row says why it will not be imported (``unreadable``, or ``refused``: another flow)."""
        await self._pool.execute(
            """INSERT INTO flux_files (file_digest, file_name, source, status, failure) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (file_digest) DO UPDATE SET status = EXCLUDED.status, failure = EXCLUDED.failure
               WHERE flux_files.status <> 'imported'""",
            req.file_digest, Path(req.file_name).name, req.source, "refused" if refused else "unreadable", failure,
        )

    # ------------------------------------------------------------------ slices

    async def import_slice(self, req: SliceRequest,
                           heartbeat: Callable[[SliceProgress], None] = lambda p: None) -> SliceResult:
        async with self._pool.acquire() as lock:
            if not await lock.fetchval("SELECT pg_try_advisory_lock(hashtext($1), $2)", req.file_digest, req.first):
                raise ApplicationError("another attempt is importing this slice", type="FLUX_SLICE_BUSY")
            try:
                return await self._import_slice(req, heartbeat)
            finally:
                await lock.execute("SELECT pg_advisory_unlock(hashtext($1), $2)", req.file_digest, req.first)

    async def _import_slice(self, req: SliceRequest, heartbeat: Callable[[SliceProgress], None]) -> SliceResult:
        try:
            digest = await asyncio.to_thread(file_digest, req.file_path)
        except OSError as exc:
            raise unreadable(f"cannot read {Path(req.file_path).name}: {exc.strerror or exc}") from None
        if digest != req.file_digest:  # positions would not mean the same households any more
            raise ApplicationError(f"{Path(req.file_path).name} changed since the import started (digest differs)",
                                   type="FLUX_FILE_CHANGED", non_retryable=True)
        done = {r["position"] for r in await self._pool.fetch(
            "SELECT position FROM flux_import_ledger WHERE file_digest = $1 AND position BETWEEN $2 AND $3",
            req.file_digest, req.first, req.last)}
        in_doubt = {r["position"] for r in await self._pool.fetch(
            "SELECT position FROM flux_signal_intents WHERE file_digest = $1 AND position BETWEEN $2 AND $3",
            req.file_digest, req.first, req.last)} - done
        result = SliceResult(first=req.first, last=req.last)
        try:
            reader = make_reader(req.file_path, req.source, req.mapping)
            chunk: list[ParsedRecord] = []
            for record in records_between(reader, req.first, req.last):
                if record.position in done:
                    result.already_done += 1
                    result.handled += 1
                    continue
                chunk.append(record)
                if len(chunk) >= CHUNK:
                    await self._chunk(req, slice_header(reader, req), chunk, in_doubt, result, heartbeat)
                    heartbeat(SliceProgress(first=req.first, last=req.last, position=chunk[-1].position,
                                            handled=result.handled, signals=result.signals))
                    chunk = []
            if chunk:
                await self._chunk(req, slice_header(reader, req), chunk, in_doubt, result, heartbeat)
        except FluxUnreadable as exc:
            raise unreadable(str(exc), isinstance(exc, FluxRefused)) from None
        except OSError as exc:
            raise unreadable(f"cannot read {Path(req.file_path).name}: {exc.strerror or exc}") from None
        heartbeat(SliceProgress(first=req.first, last=req.last, position=req.last, handled=result.handled,
                                signals=result.signals))
        return result

    async def _chunk(self, req: SliceRequest, header: FluxHeader, records: list[ParsedRecord],
                     in_doubt: set[int], result: SliceResult, heartbeat: Callable[[SliceProgress], None]) -> None:
        rejected = [r for r in records if not r.accepted]
        accepted: list[tuple[ParsedRecord, list[fe.FlowObservation]]] = []
        for record in records:
            if not record.accepted:
                continue
            assert record.household is not None
            try:
                observations = fe.observations_for_household(record.household, header, secret=self._secret,
                                                             source=flow_source(req.source))
            except ValueError:
                rejected.append(ParsedRecord(position=record.position, record_hash=record.record_hash, issues=(
                    Issue(RejectionCode.BAD_DATE, "no flow date: IdentificationFlux/DTCREAFLUX or entry date"),)))
                continue
            accepted.append((record, observations))
        if rejected:
            await self._quarantine.store(QuarantineBatch(
                file_digest=req.file_digest, records=[quarantine_entry(r) for r in rejected]))
            result.rejected += len(rejected)
            result.handled += len(rejected)
        if not accepted:
            return
        # A person adopted by CAF matricule + rank is followed by that pathway once the NIR is linked to it.
        links = await self._links.resolve([(o.person_id, o.caf_key) for _, obs in accepted for o in obs],
                                          req.file_digest)
        if links:
            accepted = [(record, [o.model_copy(update={"person_id": links[o.person_id]}) if o.person_id in links
                                  else o for o in obs]) for record, obs in accepted]

        # Derive every person's events from the last applied observation (kept in memory along the chunk,
        # in file order, for a person appearing twice).
        person_ids = sorted({o.person_id for _, obs in accepted for o in obs})
        rows = await self._pool.fetch(
            "SELECT person_id, state, pathway FROM flux_observations WHERE person_id = ANY($1::text[])", person_ids)
        states: dict[str, fe.PersonFlowState | None] = {
            r["person_id"]: fe.PersonFlowState.model_validate_json(r["state"]) for r in rows}
        has_pathway: dict[str, bool] = {r["person_id"]: r["pathway"] for r in rows}
        has_pathway.update(dict.fromkeys(await self._links.adopted(person_ids), True))
        # A finished pathway (closed, re-entry window over) is no pathway: an entry starts a new one (T25).
        finished = await self._links.finished([pid for pid, known in has_pathway.items() if known],
                                              activity.info().scheduled_time if activity.in_activity() else None)
        has_pathway.update(dict.fromkeys(finished, False))
        changed: dict[str, tuple[fe.PersonFlowState, int]] = {}
        started: set[str] = set()
        plans: list[tuple[int, list[PathwaySignal]]] = []
        territories: dict[int, str] = {}  # position -> territory of the pathways it starts
        unplaced: dict[str, tuple[int, str | None]] = {}  # person -> (position, commune) started UNASSIGNED
        for record, observations in accepted:
            signals: list[PathwaySignal] = []
            events_of: dict[str, list[fe.AnyFlowEvent]] = {}
            for observed in observations:
                obs = fe.with_known_status(states.get(observed.person_id), observed)
                new_state, events = fe.derive_events(states.get(obs.person_id), obs, rules_for_flow(obs.flow_date))
                events_of[obs.person_id] = events
                if new_state is not None and new_state != states.get(obs.person_id):
                    states[obs.person_id] = new_state
                    changed[obs.person_id] = (new_state, record.position)
                for event in events:
                    signal = pathway_signal(event, obs)
                    if signal is None:
                        continue
                    if signal.start:
                        if not has_pathway.get(obs.person_id, False):
                            started.add(obs.person_id)
                            signal.seq_base = finished.get(obs.person_id, 0)
                        has_pathway[obs.person_id] = True
                    elif not has_pathway.get(obs.person_id, False):
                        continue  # no pathway was ever started from a flow: nothing to tell
                    signals.append(signal)
            signals.extend(household_signals(observations, events_of, has_pathway))  # G-B20
            plans.append((record.position, signals))
            territory = territories[record.position] = self._territory(req, record)
            if self._communes is not None and territory == UNASSIGNED:
                for signal in signals:
                    if signal.start and signal.person_id in started:
                        unplaced.setdefault(signal.person_id, (record.position, record.household.commune))

        positions = [p for p, s in plans if s]
        if positions:
            await self._pool.execute(
                """INSERT INTO flux_signal_intents (file_digest, position) SELECT $1, unnest($2::int[])
                   ON CONFLICT DO NOTHING""", req.file_digest, positions)
        progress = SliceProgress(first=req.first, last=req.last, position=records[0].position - 1,
                                 handled=result.handled, signals=result.signals)
        sent, rechecked, gone = await self._delivery(self.client).send(
            plans, territories, req.territory, req.pathway_task_queue or activity.info().task_queue, in_doubt,
            lambda: heartbeat(progress))
        result.rechecked_signals += rechecked

        async with self._pool.acquire() as conn, conn.transaction():
            if changed:
                await conn.executemany(
                    """INSERT INTO flux_observations (person_id, state, pathway, pathway_file_digest, file_digest,
                           position)
                       VALUES ($1, $2::jsonb, $3, $4, $5, $6)
                       ON CONFLICT (person_id) DO UPDATE SET state = EXCLUDED.state, pathway = EXCLUDED.pathway,
                           pathway_file_digest = COALESCE(EXCLUDED.pathway_file_digest,
                                                          flux_observations.pathway_file_digest),
                           file_digest = EXCLUDED.file_digest, position = EXCLUDED.position, updated_at = now()""",
                    [(pid, state.model_dump_json(), has_pathway.get(pid, False) and pid not in gone,
                      req.file_digest if pid in started else None, req.file_digest, position)
                     for pid, (state, position) in changed.items()],
                )
            if unplaced:
                await TaskStore.create(conn, [unassigned_task(pid, commune, req.file_digest, position)
                                              for pid, (position, commune) in unplaced.items() if pid not in gone])
            await conn.executemany(
                """INSERT INTO flux_import_ledger (file_digest, position, outcome, record_hash, persons, signals)
                   VALUES ($1, $2, 'imported', $3, $4, $5) ON CONFLICT (file_digest, position) DO NOTHING""",
                [(req.file_digest, record.position, record.record_hash or None, len(obs), sent.get(record.position, 0))
                 for record, obs in accepted],
            )
            if positions:
                await conn.execute("DELETE FROM flux_signal_intents WHERE file_digest = $1 AND position = ANY($2::int[])",
                                   req.file_digest, positions)
        result.imported += len(accepted)
        result.handled += len(accepted)
        result.signals += sum(sent.values())

    def _territory(self, req: SliceRequest, record: ParsedRecord) -> str:
        """The territory of the pathways a household starts: the commune table's, else UNASSIGNED (a
        task then asks the SLAI manager); without a table, the import's own territory."""
        if self._communes is None:
            return req.territory
        assert record.household is not None
        return self._communes.territory_for(record.household.commune) or UNASSIGNED

    # ------------------------------------------------------------------ finish

    async def finish(self, req: FinishRequest) -> FluxImportResult:
        """Mark the file imported and compute the outcome from the ledger and the survey counts."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE flux_files SET status = 'imported', completed_at = COALESCE(completed_at, now())
                   WHERE file_digest = $1""", req.file_digest)
            row = await conn.fetchrow(
                """SELECT f.file_name, f.households, f.rejected,
                          (SELECT count(*) FROM flux_import_ledger l WHERE l.file_digest = f.file_digest) AS positions,
                          (SELECT coalesce(sum(l.signals), 0) FROM flux_import_ledger l
                            WHERE l.file_digest = f.file_digest) AS signals,
                          (SELECT coalesce(sum(l.persons), 0) FROM flux_import_ledger l
                            WHERE l.file_digest = f.file_digest AND l.outcome = 'imported') AS persons,
                          (SELECT count(*) FROM flux_observations o WHERE o.pathway_file_digest = f.file_digest)
                              AS new_pathways
                     FROM flux_files f WHERE f.file_digest = $1""", req.file_digest)
        if row is None:
            raise ApplicationError("file not surveyed", type="FLUX_NOT_SURVEYED", non_retryable=True)
        if req.remove_file:
            await asyncio.to_thread(discard_imported, req.remove_file, req.file_digest)
        return FluxImportResult(
            file_digest=req.file_digest, file_name=row["file_name"], households=row["households"] or 0,
            persons=int(row["persons"]), subject_to_duties=0, rejected=row["rejected"] or 0,
            signals=int(row["signals"]), new_pathways=int(row["new_pathways"]), positions=int(row["positions"]),
        )

def unassigned_task(person_id: str, commune: str | None, file_digest: str, position: int) -> NewTask:
    """The task asking the SLAI manager to place a pathway the commune table could not: one per pathway (its
    key), holding the commune code to add to the table, never the address."""
    workflow_id = pathway_workflow_id(person_id)
    details = {"commune": commune or "", "file_digest": file_digest, "position": str(position)}
    return NewTask(task_key=f"{workflow_id}:TERRITORY_UNASSIGNED", workflow_id=workflow_id, kind="TERRITORY_UNASSIGNED",
                   assignee=slai_manager(UNASSIGNED), details=details)


class FluxImportActivities:
    """Temporal activities over :class:`FluxImporter` (built in ``workers/runtime/registry.py``)."""

    def __init__(self, pool: asyncpg.Pool, person_id_secret: bytes, client: Client | None = None,
                 communes: CommuneTable | None = None) -> None:
        self.importer = FluxImporter(pool, person_id_secret, client, communes)
        self.drop_directory = DropDirectory(pool)

    @activity.defn(name=SURVEY)
    async def survey(self, req: SurveyRequest) -> FileSurvey:
        return await self.importer.survey(req, heartbeat=activity.heartbeat)

    @activity.defn(name=IMPORT_SLICE)
    async def import_slice(self, req: SliceRequest) -> SliceResult:
        return await self.importer.import_slice(req, heartbeat=activity.heartbeat)

    @activity.defn(name=FINISH)
    async def finish(self, req: FinishRequest) -> FluxImportResult:
        return await self.importer.finish(req)

    @activity.defn(name=LIST_DROPPED)
    async def list_dropped_files(self, req: DropScanInput) -> list[DroppedFile]:
        return await self.drop_directory.list_new(req)

    def all(self) -> list:
        return [self.survey, self.import_slice, self.finish, self.list_dropped_files]
