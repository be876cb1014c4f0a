"""``parcours dev`` end to end: children started, healthy, state kept across restarts, nothing left on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from workers.dev.embedded import binary, free_port, port_open
from workers.dev.supervision import HomeLock


def _ports() -> dict[str, int]:
    return {name: free_port() for name in ("grpc", "ui", "pg", "codec", "metrics", "api", "monjob")}


def _start(home: Path, ports: dict[str, int]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL")}
    env["PARCOURS_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "dev", "--port", str(ports["grpc"]), "--ui-port", str(ports["ui"]),
         "--pg-port", str(ports["pg"]), "--codec-port", str(ports["codec"]),
         "--metrics-port", str(ports["metrics"]), "--api-port", str(ports["api"]),
         "--monjob-port", str(ports["monjob"])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait_ready(process: subprocess.Popen, timeout: float = 60) -> str:
    output = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "ready" in line:
            return "".join(output)
    process.kill()
    pytest.fail("parcours dev never said ready:\n" + "".join(output))


def _stop(process: subprocess.Popen) -> list[psutil.Process]:
    descendants = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    return alive


def _workflow_list(grpc_port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary("temporal"), "workflow", "list", "--address", f"127.0.0.1:{grpc_port}", "--namespace", "parcours-rsa"],
        capture_output=True, text=True, timeout=30,
    )


def test_dev_starts_every_child_and_stops_them_all(tmp_path):
    ports = _ports()
    process = _start(tmp_path / "home", ports)
    banner = _wait_ready(process)
    try:
        assert f"http://localhost:{ports['ui']}" in banner
        assert f"127.0.0.1:{ports['pg']}/parcours" in banner
        assert _workflow_list(ports["grpc"]).returncode == 0
        assert port_open(ports["ui"]) and port_open(ports["codec"]) and port_open(ports["api"])
        assert port_open(ports["monjob"]) and port_open(ports["metrics"])
        assert (tmp_path / "home" / "temporal.db").exists()
        described = subprocess.run(
            [binary("temporal"), "operator", "namespace", "describe", "-n", "parcours-rsa", "--address",
             f"127.0.0.1:{ports['grpc']}", "-o", "json"], capture_output=True, text=True, timeout=30)
        assert '"workflowExecutionRetentionTtl": "63072000s"' in described.stdout  # 730 days
        assert (tmp_path / "home" / "postgres" / "PG_VERSION").exists()
        names = {p.name() for p in psutil.Process(process.pid).children(recursive=True)}
        assert any(n.startswith("temporal") for n in names) and "postgres" in names
    finally:
        alive = _stop(process)
    assert alive == []
    assert not any(port_open(p) for p in ports.values())


def test_dev_restarts_with_state_kept_after_a_crash(tmp_path):
    ports = _ports()
    home = tmp_path / "home"
    first = _start(home, ports)
    _wait_ready(first)
    started = subprocess.run(
        [binary("temporal"), "workflow", "start", "--address", f"127.0.0.1:{ports['grpc']}", "--namespace",
         "parcours-rsa", "--type", "KeptAcrossRestarts", "--task-queue", "nobody-polls", "--workflow-id", "kept-1"],
        capture_output=True, text=True, timeout=30,
    )
    assert started.returncode == 0, started.stderr
    # Crash: SIGKILL the supervisor and every child, as a power cut would.
    family = [psutil.Process(first.pid), *psutil.Process(first.pid).children(recursive=True)]
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):  # a child may already have died with its parent
            p.kill()
    psutil.wait_procs(family, timeout=10)
    first.communicate(timeout=10)

    second = _start(home, ports)
    _wait_ready(second)
    try:
        listed = _workflow_list(ports["grpc"])
        assert "kept-1" in listed.stdout
    finally:
        assert _stop(second) == []


def test_children_die_with_a_killed_supervisor_and_a_restart_on_the_same_ports_succeeds(tmp_path):
    ports = _ports()
    home = tmp_path / "home"
    first = _start(home, ports)
    _wait_ready(first)
    children = psutil.Process(first.pid).children(recursive=True)
    assert len(children) >= 6
    first.kill()  # SIGKILL of the supervisor alone: no handler of ours runs
    first.communicate(timeout=10)
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"orphans left running: {[p.name() for p in alive]}"
    deadline = time.monotonic() + 10
    while any(port_open(p) for p in ports.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(port_open(p) for p in ports.values())

    second = _start(home, ports)
    banner = _wait_ready(second)
    try:
        assert "cannot start" not in banner
        assert f"previous parcours dev (pid {first.pid}) ended without stopping" in banner
        assert _workflow_list(ports["grpc"]).returncode == 0  # our new server answers, not an orphan
    finally:
        assert _stop(second) == []


def test_a_busy_port_is_reported_and_nothing_starts(tmp_path):
    ports = _ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["codec"]))
        squatter.listen()
        process = _start(tmp_path / "home", ports)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "cannot start" in output and f"--codec-port {ports['codec']}" in output and "ready" not in output
    assert not (tmp_path / "home" / "temporal.db").exists() and not port_open(ports["grpc"])


def test_a_home_held_by_a_live_supervisor_is_refused(tmp_path):
    home = tmp_path / "home"
    held = HomeLock(home)
    held.acquire()
    try:
        process = _start(home, _ports())
        output, _ = process.communicate(timeout=60)
    finally:
        held.release()
    assert process.returncode == 2
    assert f"another parcours dev (pid {os.getpid()})" in output and "ready" not in output
    # Released (as by a crash: the kernel drops the flock with its holder): the home is free again.
    again = HomeLock(home)
    again.acquire()
    again.release()
