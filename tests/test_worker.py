"""The production worker: configured by environment, graceful shutdown on SIGTERM."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil

from workers.runtime.config import Settings
from workers.dev.embedded import free_port
from workers.runtime.keys import Keyring


def test_settings_read_from_environment():
    settings = Settings.from_env({
        "TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "ns", "TEMPORAL_TASK_QUEUE": "tq",
        "DATABASE_URL": "postgresql://x@db/parcours", "PARCOURS_PERSON_ID_SECRET": "s3cret",
    })
    assert (settings.temporal_address, settings.temporal_namespace, settings.temporal_task_queue) == (
        "temporal:7233", "ns", "tq")
    assert settings.database_url == "postgresql://x@db/parcours"
    assert settings.person_id_key == b"s3cret"
    assert "s3cret" not in repr(settings)


def test_settings_defaults():
    settings = Settings.from_env({})
    assert settings.metrics_host == "127.0.0.1"
    assert Settings.from_env({"PARCOURS_METRICS_HOST": "0.0.0.0"}).metrics_host == "0.0.0.0"
    assert settings.temporal_address == "localhost:7233"
    assert settings.temporal_namespace == settings.temporal_task_queue == "parcours-rsa"
    assert settings.database_url is None


async def test_worker_polls_and_exits_cleanly_on_sigterm(dev_env, database_url, task_queue):
    metrics_port = free_port()
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
           "TEMPORAL_NAMESPACE": dev_env.client.namespace, "TEMPORAL_TASK_QUEUE": task_queue,
           "DATABASE_URL": database_url, "PARCOURS_LOG_FORMAT": "json",
           "PARCOURS_ENCRYPTION_KEYS": Keyring.generate("k1").to_spec(), "PARCOURS_METRICS_PORT": str(metrics_port),
           "PARCOURS_PERSON_ID_SECRET": "test-person-id-secret-" + "x" * 20}
    process = subprocess.Popen([sys.executable, "-m", "workers.cli", "worker"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = False
        for _ in range(300):
            line = process.stdout.readline()
            if "worker started" in line:
                started = True
                break
            if process.poll() is not None:
                break
            time.sleep(0.01)
        assert started, process.stdout.read() if process.poll() is not None else "no start line"
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            assert response.status == 200
            assert b"temporal_" in response.read()
        listening = [c.laddr.ip for c in psutil.Process(process.pid).net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == metrics_port]
        assert listening == ["127.0.0.1"]  # loopback by default, like every other service
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "worker stopped" in out
