"""Structured logging, configured once per process (worker, ``parcours dev``).

* JSON lines when stdout is not a terminal (production, containers), a readable console otherwise;
  ``PARCOURS_LOG_FORMAT=json|console`` or the ``json`` argument decides explicitly.
* Every record carries the Temporal ids of the activity or workflow it was logged from, so ops staff can
  open the execution in the Web UI.
* Personal data never reaches the output: values under personal-data keys and anything shaped like a NIR
  are replaced with ``[redacted]`` (logs are stored in clear, see engineering.md §4).
* The temporalio SDK logs through stdlib ``logging``; the same handler renders those records, so the
  SDK's own warnings (activity failures, workflow task errors) get the same ids, redaction and format.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from pydantic import BaseModel
from temporalio import activity, workflow

REDACTED = "[redacted]"

# Keys compared after lower-casing, stripping accents and turning "-" into "_".
PERSONAL_DATA_KEYS = frozenset(
    {
        "nir",
        "nir_key",
        "numero_securite_sociale",
        "name",
        "nom",
        "nom_naissance",
        "nom_usage",
        "prenom",
        "prenoms",
        "first_name",
        "last_name",
        "firstname",
        "lastname",
        "full_name",
        "birth_date",
        "date_of_birth",
        "date_naissance",
        "address",
        "adresse",
        "email",
        "phone",
        "telephone",
    }
)

# 13 characters (sex digit, year, month, department incl. 2A/2B, commune, order) and an optional key,
# written plain or grouped with spaces/dots ("1 85 01 78 006 048 63"). Not inside a longer token.
_SEP = r"[ .\u00a0]?"
NIR_SHAPE = re.compile(
    rf"(?<![0-9A-Za-z])[12378](?:{_SEP}[0-9]{{2}}){{2}}{_SEP}(?:[0-9]{{2}}|2[ABab])"
    rf"(?:{_SEP}[0-9]{{3}}){{2}}(?:{_SEP}[0-9]{{2}})?(?![0-9A-Za-z])"
)

_handler: logging.Handler | None = None


def _normal_key(key: object) -> str:
    text = unicodedata.normalize("NFKD", str(key)).encode("ascii", "ignore").decode("ascii")
    return text.lower().replace("-", "_")


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return NIR_SHAPE.sub(REDACTED, value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if _normal_key(k) in PERSONAL_DATA_KEYS else _redact_value(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(v) for v in value]
    if isinstance(value, BaseModel):
        return _redact_value(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _redact_value(dataclasses.asdict(value))
    # Other objects are rendered with str()/repr() later: refuse them if that text shows a NIR.
    return REDACTED if NIR_SHAPE.search(str(value)) or NIR_SHAPE.search(repr(value)) else value


def redact_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: personal-data keys (at any depth) and NIR-shaped text become ``[redacted]``."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue  # structlog internals (_record), removed before rendering
        if _normal_key(key) in PERSONAL_DATA_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(value)
    return event_dict


def add_temporal_ids(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the workflow/activity ids of the execution the record was logged from."""
    ids: dict[str, Any] = {}
    if activity.in_activity():
        info = activity.info()
        ids = {
            "workflow_id": info.workflow_id,
            "run_id": info.workflow_run_id,
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
        }
    elif workflow.in_workflow():
        info = workflow.info()
        ids = {"workflow_id": info.workflow_id, "run_id": info.run_id, "workflow_type": info.workflow_type}
    else:
        # SDK records logged by the worker outside the execution's context carry the ids as "extra".
        record = event_dict.get("_record")
        details = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        if isinstance(details, Mapping):
            ids = {
                "workflow_id": details.get("workflow_id"),
                "run_id": details.get("workflow_run_id") or details.get("run_id"),
                "activity_id": details.get("activity_id"),
                "activity_type": details.get("activity_type"),
                "workflow_type": None if "activity_id" in details else details.get("workflow_type"),
            }
    for key, value in ids.items():
        if value is not None:
            event_dict.setdefault(key, value)
    return event_dict


def _wants_json(json: bool | None) -> bool:
    if json is not None:
        return json
    chosen = os.environ.get("PARCOURS_LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "console"):
        return chosen == "json"
    isatty = getattr(sys.stdout, "isatty", None)
    return not (isatty is not None and isatty())


def configure_logging(
    json: bool | None = None, *, level: int | str = logging.INFO, stream: TextIO | None = None
) -> None:
    """Configure structlog and stdlib logging for the whole process.

    Calling it again replaces the previous configuration (no duplicated output), so the worker, the CLI
    and tests can each call it once with their own settings.
    """
    global _handler
    as_json = _wants_json(json)
    out = stream if stream is not None else sys.stdout

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_temporal_ids,
    ]
    renderer: Any
    if as_json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=bool(getattr(out, "isatty", lambda: False)()))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # tracebacks become text, then get redacted too
            redact_personal_data,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler

    # The SDK appends its ids to the message text by default; they are fields here.
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
