"""Logging: one configuration, JSON or console by TTY, Temporal ids on records, personal data redacted."""

from __future__ import annotations

import io
import json
import logging
import uuid
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import pytest
    import structlog
    from temporalio.worker import Worker

    import workers.runtime.logging as parcours_logging
    from workers.runtime.logging import REDACTED, configure_logging
    from workers.runtime.sandbox import workflow_runner

# A valid NIR (key 63 = 97 − 1850178006048 mod 97) and the same written with spaces.
NIR = "185017800604863"
NIR_SPACED = "1 85 01 78 006 048 63"


@pytest.fixture
def captured():
    """Configure logging into a buffer; undo it afterwards so other tests keep the default setup."""
    buffer = io.StringIO()
    configure_logging(json=True, stream=buffer)
    try:
        yield buffer
    finally:
        root = logging.getLogger()
        if parcours_logging._handler is not None:
            root.removeHandler(parcours_logging._handler)
            parcours_logging._handler = None
        root.setLevel(logging.WARNING)
        structlog.reset_defaults()
        activity.logger.activity_info_on_message = True
        workflow.logger.workflow_info_on_message = True


def records(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def record(buffer: io.StringIO, event: str) -> dict:
    matches = [r for r in records(buffer) if r["event"].startswith(event)]
    assert len(matches) == 1, records(buffer)
    return matches[0]


# --- redaction -------------------------------------------------------------------------------------------------


def test_personal_data_keys_are_redacted_at_any_depth(captured):
    structlog.get_logger("parcours.test").info(
        "beneficiary updated",
        nir=NIR,
        nom="Dupont",
        Prénom="Jeanne",
        first_name="Jeanne",
        last_name="Dupont",
        birth_date="1985-01-15",
        adresse="12 rue des Lilas",
        address={"street": "12 rue des Lilas"},
        beneficiary={"name": "Jeanne Dupont", "territory": "ARRAS", "children": [{"prenom": "Léo", "age": 4}]},
        territory="ARRAS",
        stage="ORIENTATION",
        breaches=2,
    )
    r = record(captured, "beneficiary updated")
    for key in ("nir", "nom", "Prénom", "first_name", "last_name", "birth_date", "adresse", "address"):
        assert r[key] == REDACTED, key
    assert r["beneficiary"] == {"name": REDACTED, "territory": "ARRAS", "children": [{"prenom": REDACTED, "age": 4}]}
    assert (r["territory"], r["stage"], r["breaches"]) == ("ARRAS", "ORIENTATION", 2)  # coarse data stays
    text = captured.getvalue()
    for secret in ("Dupont", "Jeanne", "Léo", "Lilas", "1985-01-15", "1850178006048"):
        assert secret not in text


@pytest.mark.parametrize(
    "text",
    [
        NIR,
        NIR_SPACED,
        "1850178006048",  # without its key
        "285022A00412355",  # Corsica
        "2 85 02 2a 004 123 55",
        "1.85.01.78.006.048.63",
    ],
)
def test_nir_shaped_text_is_redacted_anywhere(captured, text):
    log = structlog.get_logger("parcours.test")
    log.info(f"import row for {text} rejected", reason=f"unknown person {text}", row=[1, text])
    r = record(captured, "import row for")
    assert r["event"] == f"import row for {REDACTED} rejected"
    assert r["reason"] == f"unknown person {REDACTED}"
    assert r["row"] == [1, REDACTED]


def test_ids_and_dates_that_only_look_numeric_are_kept(captured):
    person = "4f1c2a9b8e7d6c5b4a39281706f5e4d3"  # hex person id
    structlog.get_logger("parcours.test").info(
        "kept", person_id=person, run_id=str(uuid.UUID(int=2**100)), day="2025-01-15", phone_like="03 21 21 62 62 x",
        amount=1850178006048,  # numbers are not strings: not scanned
    )
    r = record(captured, "kept")
    assert r["person_id"] == person
    assert r["day"] == "2025-01-15"
    assert r["amount"] == 1850178006048


def test_models_and_exceptions_are_redacted(captured):
    from pydantic import BaseModel

    class Beneficiary(BaseModel):
        nir: str
        territory: str

    log = structlog.get_logger("parcours.test")
    log.info("model", who=Beneficiary(nir=NIR, territory="LENS"))
    try:
        raise ValueError(f"NIR {NIR_SPACED} refused by the CAF")
    except ValueError:
        log.exception("call failed")
    assert record(captured, "model")["who"] == {"nir": REDACTED, "territory": "LENS"}
    failed = record(captured, "call failed")
    assert "ValueError: NIR [redacted] refused by the CAF" in failed["exception"]
    assert "048" not in captured.getvalue()


def test_stdlib_records_share_the_renderer_and_redaction(captured):
    logging.getLogger("temporalio.worker").warning("retrying task for %s", NIR)
    r = record(captured, "retrying task for")
    assert r["event"] == f"retrying task for {REDACTED}"
    assert (r["level"], r["logger"]) == ("warning", "temporalio.worker")
    assert "timestamp" in r


def test_sdk_extra_ids_are_used_outside_the_execution_context(captured):
    details = {
        "activity_id": "7",
        "activity_type": "notify",
        "attempt": 3,
        "namespace": "default",
        "task_queue": "tq",
        "workflow_id": "pathway-abc",
        "workflow_run_id": "run-1",
        "workflow_type": "Pathway",
    }
    logging.getLogger("temporalio.activity").warning("Completing activity as failed", extra={"temporal_activity": details})
    r = record(captured, "Completing activity as failed")
    assert (r["workflow_id"], r["run_id"], r["activity_id"], r["activity_type"]) == ("pathway-abc", "run-1", "7", "notify")


# --- format and configuration -----------------------------------------------------------------------------------


class _FakeStdout(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(("tty", "env", "expect_json"), [(False, None, True), (True, None, False), (True, "json", True), (False, "console", False)])
def test_json_unless_stdout_is_a_terminal(captured, monkeypatch, tty, env, expect_json):
    monkeypatch.setattr("sys.stdout", _FakeStdout(tty))
    if env is None:
        monkeypatch.delenv("PARCOURS_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("PARCOURS_LOG_FORMAT", env)
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    structlog.get_logger("parcours.test").info("format probe", territory="ARRAS")
    line = buffer.getvalue().strip()
    if expect_json:
        assert json.loads(line)["territory"] == "ARRAS"
    else:
        assert not line.startswith("{")
        assert "format probe" in line and "territory=ARRAS" in line


def test_configure_twice_does_not_duplicate_output(captured):
    buffer = io.StringIO()
    configure_logging(json=True, stream=buffer)
    configure_logging(json=True, stream=buffer)
    structlog.get_logger("parcours.test").info("once")
    logging.getLogger("temporalio").warning("once stdlib")
    assert len(buffer.getvalue().splitlines()) == 2
    assert captured.getvalue() == ""  # the previous handler was replaced, not kept


def test_level_filters_structlog_and_stdlib(captured):
    buffer = io.StringIO()
    configure_logging(json=True, stream=buffer, level="WARNING")
    structlog.get_logger("parcours.test").info("hidden")
    logging.getLogger("temporalio").info("hidden too")
    structlog.get_logger("parcours.test").warning("shown")
    assert [r["event"] for r in records(buffer)] == ["shown"]


# --- Temporal ids inside executions ------------------------------------------------------------------------------


@activity.defn(name="logging_probe_activity")
async def logging_probe_activity(person: str) -> str:
    structlog.get_logger("parcours.test").info("activity structlog", nir=person, note=f"for {person}")
    activity.logger.info("activity stdlib %s", person)
    return "done"


@workflow.defn(name="LoggingProbe")
class LoggingProbe:
    @workflow.run
    async def run(self, person: str) -> str:
        workflow.logger.info("workflow says %s", person)
        return await workflow.execute_activity(
            logging_probe_activity, person, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_activity_and_workflow_records_carry_temporal_ids(captured, ts_env, task_queue, unique_id):
    workflow_id = f"logging-probe-{unique_id}"
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[LoggingProbe],
        activities=[logging_probe_activity],
        workflow_runner=workflow_runner(),
    ):
        handle = await ts_env.client.start_workflow(LoggingProbe.run, NIR, id=workflow_id, task_queue=task_queue)
        assert await handle.result() == "done"
    run_id = handle.result_run_id

    in_activity = record(captured, "activity structlog")
    assert in_activity["workflow_id"] == workflow_id
    assert in_activity["run_id"] == run_id
    assert in_activity["activity_type"] == "logging_probe_activity"
    assert in_activity["activity_id"]
    assert (in_activity["nir"], in_activity["note"]) == (REDACTED, f"for {REDACTED}")

    sdk_activity = record(captured, "activity stdlib")
    assert sdk_activity["event"] == f"activity stdlib {REDACTED}"  # no SDK suffix, ids are fields
    assert sdk_activity["logger"] == "temporalio.activity"
    assert (sdk_activity["workflow_id"], sdk_activity["run_id"]) == (workflow_id, run_id)
    assert sdk_activity["activity_id"] == in_activity["activity_id"]

    in_workflow = record(captured, "workflow says")
    assert in_workflow["event"] == f"workflow says {REDACTED}"
    assert (in_workflow["workflow_id"], in_workflow["run_id"]) == (workflow_id, run_id)
    assert in_workflow["workflow_type"] == "LoggingProbe"
    assert "activity_id" not in in_workflow

    assert "1850178006048" not in captured.getvalue()
