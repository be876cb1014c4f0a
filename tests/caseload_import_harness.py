"""A worker running ``CaseloadImport`` and the pathways, in-process or as a separate process that a test can kill
(``python -m tests.caseload_import_harness ...``); ``--start-delay`` slows each pathway start so the kill lands
in the middle of a slice."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.caseload_import import CaseloadImportActivities, CaseloadImporter
from activities.pathway import InMemoryMonJob62, PathwayActivities, PathwayReadModel
from workers.runtime.converter import data_converter
from workers.runtime.keys import Keyring
from workers.runtime.sandbox import workflow_runner
from workflows.caseload_import import CaseloadImport
from workflows.pathway import BeneficiaryPathway


class _SlowImporter(CaseloadImporter):
    def __init__(self, pool, secret: bytes, delay: float) -> None:
        super().__init__(pool, secret)
        self._delay = delay

    async def _adopt(self, case, state, req, now):
        await asyncio.sleep(self._delay)
        return await super()._adopt(case, state, req, now)


def build_worker(client: Client, task_queue: str, pool: asyncpg.Pool, secret: bytes, *, start_delay: float = 0.0,
                 max_cached_workflows: int = 1000) -> Worker:
    activities = CaseloadImportActivities(pool, secret)  # no client: the worker's own, as in production
    if start_delay:
        activities.importer = _SlowImporter(pool, secret, start_delay)
    return Worker(client, task_queue=task_queue, workflows=[CaseloadImport, BeneficiaryPathway],
                  activities=[*activities.all(), *PathwayActivities(PathwayReadModel(pool), InMemoryMonJob62()).all()],
                  workflow_runner=workflow_runner(), max_cached_workflows=max_cached_workflows)


async def _main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--address", "--namespace", "--task-queue", "--database-url", "--secret-hex", "--keys"):
        parser.add_argument(name, required=True)
    parser.add_argument("--start-delay", type=float, default=0.0)
    args = parser.parse_args()
    client = await Client.connect(args.address, namespace=args.namespace,
                                  data_converter=data_converter(Keyring.parse(args.keys)))
    pool = await asyncpg.create_pool(args.database_url, min_size=1, max_size=5)
    async with build_worker(client, args.task_queue, pool, bytes.fromhex(args.secret_hex),
                            start_delay=args.start_delay, max_cached_workflows=0):
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main())
