"""Helpers for the flow-import tests: a worker running the import and the pathway, in-process or as a
separate process that a test can kill (``python -m tests.flux_import_harness ...``)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.cnaf_parser import CnafFluxReader, file_digest
from activities.flux_delivery import PathwayDelivery, settled_history
from activities.flux_import import FluxImportActivities, FluxImporter
from activities.pathway import InMemoryMonJob62, PathwayActivities, PathwayReadModel
from domain import flux_events as fe
from domain.rules import rule_set_for
from domain.flux_import import FluxImportInput, household_signals, pathway_signal
from domain.pathway_constants import pathway_workflow_id
from workers.runtime.converter import data_converter
from workers.runtime.keys import Keyring
from workers.runtime.sandbox import workflow_runner
from workflows.flux_drop import FluxDropScan
from workflows.flux_import import FluxImport
from workflows.pathway import BeneficiaryPathway


@pytest_asyncio.fixture(scope="session")
async def enc_client(dev_env, test_keyring) -> Client:
    """A client of the dev server with the encrypting converter (what production uses)."""
    return await Client.connect(dev_env.client.service_client.config.target_host, namespace=dev_env.client.namespace,
                                data_converter=data_converter(test_keyring))


async def terminate_pathways(client: Client, person_ids) -> None:
    """Pathways wait months for their deadlines: stop them so they do not linger on the shared server."""
    for pid in person_ids:
        try:
            await client.get_workflow_handle(pathway_workflow_id(pid)).terminate("test over")
        except RPCError:
            pass


def build_worker(client: Client, task_queue: str, pool: asyncpg.Pool, secret: bytes, *,
                 delivery: SlowDelivery | None = None, max_cached_workflows: int = 1000, communes=None) -> Worker:
    """The import and the pathway on one worker; ``delivery`` (a :class:`SlowDelivery`) slows the signals."""
    activities = FluxImportActivities(pool, secret, communes=communes)  # no client: the worker's own
    if delivery is not None:
        activities.importer = FluxImporter(pool, secret, communes=communes, delivery=delivery.for_client)
    return Worker(
        client, task_queue=task_queue, workflows=[FluxImport, FluxDropScan, BeneficiaryPathway],
        activities=[*activities.all(), *PathwayActivities(PathwayReadModel(pool), InMemoryMonJob62()).all()],
        workflow_runner=workflow_runner(), max_cached_workflows=max_cached_workflows,
    )


class SlowDelivery:
    """Waits ``delay`` seconds before each signal the import sends, so that a test can kill the worker while a
    chunk's signals are in flight; counts the signals it delayed (what shows it is the delivery in use)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.delayed = 0

    def for_client(self, client: Client) -> PathwayDelivery:
        return _DelayedDelivery(client, self)


class _DelayedDelivery(PathwayDelivery):
    def __init__(self, client: Client, slow: SlowDelivery) -> None:
        super().__init__(client)
        self._slow = slow

    async def signal(self, signal, territory, task_queue):  # type: ignore[override]
        await asyncio.sleep(self._slow.delay)
        self._slow.delayed += 1
        return await super().signal(signal, territory, task_queue)


@dataclass
class Expected:
    """What a file should produce, computed from the parser and the domain rules (no workflow involved)."""

    subject_persons: set[str]  # person ids whose pathway must start
    signals: dict[str, list[str]]  # person id -> kinds of the events signalled (first file for everyone)
    last_position: int
    rejected: int
    households: int


def expected_for(path: Path, secret: bytes) -> Expected:
    reader = CnafFluxReader(path)
    persons: set[str] = set()
    signals: dict[str, list[str]] = {}
    last = rejected = households = 0
    for record in reader:
        if record.position == 0:
            rejected += 1
            continue
        last = max(last, record.position)
        if not record.accepted:
            rejected += 1
            continue
        households += 1
        observations = fe.observations_for_household(record.household, reader.header, secret=secret)
        events_of, has_pathway = {}, {}
        for obs in observations:
            if fe.starts_pathway(obs):
                persons.add(obs.person_id)
            started = False
            events_of[obs.person_id] = fe.derive_events(None, obs, rule_set_for(obs.flow_date))[1]
            for event in events_of[obs.person_id]:
                signal = pathway_signal(event, obs)
                if signal is None or not (signal.start or started):
                    continue
                started = has_pathway[obs.person_id] = True
                signals.setdefault(obs.person_id, []).append(event.kind)
        for signal in household_signals(observations, events_of, has_pathway):  # G-B20
            signals[signal.person_id].append("household")
    return Expected(persons, signals, last, rejected, households)


def import_input(path: Path, **extra) -> FluxImportInput:
    return FluxImportInput(file_path=str(path), file_digest=file_digest(path), file_name=path.name, **extra)


async def signal_events(client: Client, person_id: str) -> list[tuple[str, dict]]:
    """(signal name, decoded payload) of every signal in the person's pathway history (latest run)."""
    handle = client.get_workflow_handle(pathway_workflow_id(person_id))
    await settled_history(handle)  # signals buffered during a running workflow task are not in history yet
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            payload = (await client.data_converter.decode(list(attrs.input.payloads)))[0]
            found.append((attrs.signal_name, payload))
    return found


def secret_for(test_id: str) -> bytes:
    """A person-id secret per test: the same NIR in two tests gives two persons (shared database)."""
    return hashlib.sha256(test_id.encode()).digest()


def flux_xml(flow_date: date, households: list[str]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<FluxBeneficiairesRSA>\n'
            f" <IdentificationFlux><TYPEFLUX>Q</TYPEFLUX><DTCREAFLUX>{flow_date.isoformat()}</DTCREAFLUX>"
            "</IdentificationFlux>\n" + "".join(households) + "</FluxBeneficiairesRSA>\n")


def household_xml(matricule: str, state: str, persons: list[tuple[str, bool]], *, suspension: tuple[str, date] | None = None,
                  closure: tuple[str, date] | None = None) -> str:
    situation = f"<EtatDossierRSA><ETATDOSRSA>{state}</ETATDOSRSA></EtatDossierRSA>"
    if suspension:
        situation += (f"<SuspensionVersement><MOTISUSVERSRSA>{suspension[0]}</MOTISUSVERSRSA>"
                      f"<DDSUSVERSRSA>{suspension[1].isoformat()}</DDSUSVERSRSA></SuspensionVersement>")
    if closure:
        situation += (f"<FinDroit><MOTICLORSA>{closure[0]}</MOTICLORSA>"
                      f"<DTCLORSA>{closure[1].isoformat()}</DTCLORSA></FinDroit>")
    people = "".join(
        f"<Personne><Identification><NOMNAI>TEST</NOMNAI><PRENOM>Camille</PRENOM><DTNAI>1990-01-01</DTNAI>"
        f"<NIR>{nir}</NIR></Identification><Prestations><ROLEPERS>{'DEM' if i == 0 else 'CJT'}</ROLEPERS></Prestations>"
        f"<MontantCalculDroitRSAPersonne><TOPPERSDRODEVORSA>{'1' if subject else '0'}</TOPPERSDRODEVORSA>"
        "</MontantCalculDroitRSAPersonne></Personne>"
        for i, (nir, subject) in enumerate(persons))
    return (f" <InfosFoyerRSA><IdentificationRSA><Organisme><MATRICULE>{matricule}</MATRICULE></Organisme>"
            f"</IdentificationRSA><PrestationRSA><SituationDossierRSA>{situation}</SituationDossierRSA>"
            "<DetailDroitRSA><TroncCommunDroitRSA><TOPSANSDOMFIXE>0</TOPSANSDOMFIXE></TroncCommunDroitRSA>"
            f"</DetailDroitRSA></PrestationRSA>{people}</InfosFoyerRSA>\n")


async def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--secret-hex", required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--signal-delay", type=float, default=0.0)
    parser.add_argument("--max-cached-workflows", type=int, default=0)
    args = parser.parse_args()
    client = await Client.connect(args.address, namespace=args.namespace,
                                  data_converter=data_converter(Keyring.parse(args.keys)))
    pool = await asyncpg.create_pool(args.database_url, min_size=1, max_size=5)
    # No workflow cache by default: no sticky queue, so a new worker picks up the workflows at once after a kill
    # (tests/test_two_workers.py keeps a cache of 1000: with none, its surviving worker's resumed slice took up to
    # 90 s, against about 19 s with one; the cause was not established).
    worker = build_worker(client, args.task_queue, pool, bytes.fromhex(args.secret_hex),
                          delivery=SlowDelivery(args.signal_delay) if args.signal_delay else None,
                          max_cached_workflows=args.max_cached_workflows)
    async with worker:
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main())
