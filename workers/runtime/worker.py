"""The production worker: every workflow and activity of the project on one task queue."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import asyncpg
import structlog
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities import france_travail, monjob
from activities.territory import load_commune_table
from workers.runtime import poll_watchdog
from workers.runtime.config import Settings
from workers.runtime.converter import data_converter
from workers.runtime.keys import Keyring, load_keyring
from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities
from workers.runtime.sandbox import workflow_runner

log = structlog.get_logger("parcours.worker")


def runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics (and our business counters) to Prometheus, if asked."""
    if not settings.metrics_port:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"{settings.metrics_host}:{settings.metrics_port}"))
    )


async def connect(settings: Settings, with_runtime: Runtime | None = None, keyring: Keyring | None = None) -> Client:
    """A client whose payloads are encrypted with ``keyring``, by default ``PARCOURS_ENCRYPTION_KEYS`` (required:
    no key, no start)."""
    extra = {"runtime": with_runtime} if with_runtime is not None else {}
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(keyring or load_keyring(None)),
        **extra,
    )


#: Workflow activations one worker process runs at once. They share one interpreter (the GIL), so more slots only
#: lengthen each activation's wait: with the SDK's 100 and a saturated CPU (a storm of deadlines, thousands of new
#: pathways at once) activations outlasted the 10 s workflow task timeout, timed out, were retried from scratch
#: and the worker melted down (BENCHMARKS.md, issue 17). 20 × ≈ 35 ms (a replay) ≈ 0.7 s leaves 14× margin; tasks
#: beyond wait on the server, where the timeout does not run.
WORKFLOW_TASK_SLOTS = 20


def build_worker(client: Client, task_queue: str, deps: Dependencies) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(deps),
        workflow_runner=workflow_runner(),
        max_concurrent_workflow_tasks=WORKFLOW_TASK_SLOTS,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def _http_client(make, url: str | None, token: SecretStr | None, missing: str):
    """The external system's HTTP client, or ``None`` (its in-memory fake is used) with a warning."""
    if not url:
        log.warning(missing)
        return None
    return make(url, api_token=token.get_secret_value() if token else None)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None, keyring: Keyring | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set), then let running activities finish and exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(settings, runtime(settings), keyring)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=10) if settings.database_url else None
    http = _http_client(monjob.http_client, settings.monjob62_url, settings.monjob62_token,
                        "MONJOB62_URL is not set: MonJob62 pushes go to an in-memory fake")
    ft_http = _http_client(france_travail.http_client, settings.france_travail_url, settings.france_travail_token,
                           "FRANCE_TRAVAIL_URL is not set: registration checks go to an in-memory fake that knows nobody")
    try:
        communes = load_commune_table(settings.commune_territories) if settings.commune_territories else None
        deps = Dependencies(pool=pool, monjob=monjob.MonJob62Client(http) if http else None,
                            person_id_key=settings.person_id_key, retention_months=settings.retention_months,
                            communes=communes,
                            france_travail=france_travail.FranceTravailClient(ft_http) if ft_http else None)
        worker = build_worker(client, settings.temporal_task_queue, deps)
        stalls: list[poll_watchdog.QueueView] = []

        def on_stall(view: poll_watchdog.QueueView) -> None:
            log.error("workflow poller stalled: stopping so that a fresh worker takes the backlog",
                      backlog=view.backlog, backlog_age_s=int(view.backlog_age.total_seconds()))
            stalls.append(view)
            stop.set()

        async with worker:
            log.info("worker started", task_queue=settings.temporal_task_queue,
                     namespace=settings.temporal_namespace, workflows=len(WORKFLOWS),
                     metrics=f"{settings.metrics_host}:{settings.metrics_port}" if settings.metrics_port else None)
            watchdog = asyncio.create_task(poll_watchdog.watch(
                lambda: poll_watchdog.describe(client, settings.temporal_task_queue, client.identity), on_stall))
            await stop.wait()
            watchdog.cancel()
            log.info("worker stopping")
    finally:
        for open_http in (http, ft_http):
            if open_http is not None:
                await open_http.aclose()
        if pool is not None:
            await pool.close()
    log.info("worker stopped")
    if stalls:
        raise SystemExit(poll_watchdog.STALLED_EXIT)
