"""One typed settings object, read from the environment (documented in the README)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_NAMESPACE = "parcours-rsa"
DEFAULT_TASK_QUEUE = "parcours-rsa"


class Settings(BaseModel):
    """Runtime configuration shared by the worker, the CLI and ``parcours dev``."""

    model_config = ConfigDict(frozen=True)

    temporal_address: str = Field("localhost:7233", description="TEMPORAL_ADDRESS: host:port of the Temporal frontend")
    temporal_namespace: str = Field(DEFAULT_NAMESPACE, description="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(DEFAULT_TASK_QUEUE, description="TEMPORAL_TASK_QUEUE")
    database_url: str | None = Field(None, description="DATABASE_URL: PostgreSQL read model (postgresql://...)")
    person_id_secret: SecretStr = Field(
        SecretStr("dev-only-person-id-secret"),
        description="PARCOURS_PERSON_ID_SECRET: HMAC key turning a NIR into the opaque person id",
    )
    home: Path = Field(Path(".parcours"), description="PARCOURS_HOME: state directory of `parcours dev`")
    log_format: str | None = Field(None, description="PARCOURS_LOG_FORMAT: json or console (default: by TTY)")
    metrics_port: int | None = Field(None, description="PARCOURS_METRICS_PORT: Prometheus endpoint of the worker")
    monjob62_url: str | None = Field(None, description="MONJOB62_URL: base URL of the MonJob62 tracking platform")
    monjob62_token: SecretStr | None = Field(None, description="MONJOB62_TOKEN: bearer token for MonJob62")
    retention_months: int = Field(24, ge=1, description="PARCOURS_RETENTION_MONTHS: closed pathways are purged "
                                  "this many months after closure")
    label_funding_exempt: str | None = Field(None, description="PARCOURS_LABEL_FUNDING_EXEMPT: structure ids "
                                             "funded without the label (G-L23: the CAF), comma-separated")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict = {}
        mapping = {
            "TEMPORAL_ADDRESS": "temporal_address",
            "TEMPORAL_NAMESPACE": "temporal_namespace",
            "TEMPORAL_TASK_QUEUE": "temporal_task_queue",
            "DATABASE_URL": "database_url",
            "PARCOURS_PERSON_ID_SECRET": "person_id_secret",
            "PARCOURS_HOME": "home",
            "PARCOURS_LOG_FORMAT": "log_format",
            "PARCOURS_METRICS_PORT": "metrics_port",
            "MONJOB62_URL": "monjob62_url",
            "MONJOB62_TOKEN": "monjob62_token",
            "PARCOURS_RETENTION_MONTHS": "retention_months",
            "PARCOURS_LABEL_FUNDING_EXEMPT": "label_funding_exempt",
        }
        for var, field in mapping.items():
            if env.get(var):
                values[field] = env[var]
        return cls(**values)

    @property
    def person_id_key(self) -> bytes:
        return self.person_id_secret.get_secret_value().encode("utf-8")
