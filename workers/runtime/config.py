"""One typed settings object, read from the environment (documented in the README)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_NAMESPACE = "parcours-rsa"
DEFAULT_TASK_QUEUE = "parcours-rsa"
PERSON_ID_SECRET_VAR = "PARCOURS_PERSON_ID_SECRET"
#: Used only by ``parcours dev`` and ``--dev`` processes; a production process refuses it.
DEV_PERSON_ID_SECRET = "dev-only-person-id-secret"
#: A person id is an HMAC of a 13-digit NIR: a short key would let anyone holding ids brute-force it.
MIN_PERSON_ID_SECRET_LENGTH = 32


class ConfigError(ValueError):
    """A setting a production process needs is missing or unsafe (the message names the variable)."""


class Settings(BaseModel):
    """Runtime configuration shared by the worker, the CLI and ``parcours dev``."""

    model_config = ConfigDict(frozen=True)

    temporal_address: str = Field("localhost:7233", description="TEMPORAL_ADDRESS: host:port of the Temporal frontend")
    temporal_namespace: str = Field(DEFAULT_NAMESPACE, description="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(DEFAULT_TASK_QUEUE, description="TEMPORAL_TASK_QUEUE")
    database_url: str | None = Field(None, description="DATABASE_URL: PostgreSQL read model (postgresql://...)")
    person_id_secret: SecretStr = Field(
        SecretStr(DEV_PERSON_ID_SECRET),
        description="PARCOURS_PERSON_ID_SECRET: HMAC key turning a NIR into the opaque person id",
    )
    home: Path = Field(Path(".parcours"), description="PARCOURS_HOME: state directory of `parcours dev`")
    log_format: str | None = Field(None, description="PARCOURS_LOG_FORMAT: json or console (default: by TTY)")
    metrics_port: int | None = Field(None, description="PARCOURS_METRICS_PORT: Prometheus endpoint of the worker")
    metrics_host: str = Field("127.0.0.1", description="PARCOURS_METRICS_HOST: interface of the metrics endpoint "
                              "(loopback unless a scraper on another host needs it)")
    monjob62_url: str | None = Field(None, description="MONJOB62_URL: base URL of the MonJob62 tracking platform")
    monjob62_token: SecretStr | None = Field(None, description="MONJOB62_TOKEN: bearer token for MonJob62")
    france_travail_url: str | None = Field(None, description="FRANCE_TRAVAIL_URL: base URL of France Travail's "
                                           "registration check (unset: an in-memory fake that knows nobody)")
    france_travail_token: SecretStr | None = Field(None, description="FRANCE_TRAVAIL_TOKEN: bearer token for it")
    retention_months: int = Field(24, ge=1, description="PARCOURS_RETENTION_MONTHS: closed pathways are purged "
                                  "this many months after closure")
    label_funding_exempt: str | None = Field(None, description="PARCOURS_LABEL_FUNDING_EXEMPT: structure ids "
                                             "funded without the label (G-L23: the CAF), comma-separated")
    commune_territories: Path | None = Field(
        None, description="PARCOURS_COMMUNE_TERRITORIES: CSV commune;territory placing flow households in a "
                          "territory by their INSEE commune (NUMCOM); unset: the import's --territory")

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
            "PARCOURS_METRICS_HOST": "metrics_host",
            "MONJOB62_URL": "monjob62_url",
            "MONJOB62_TOKEN": "monjob62_token",
            "FRANCE_TRAVAIL_URL": "france_travail_url",
            "FRANCE_TRAVAIL_TOKEN": "france_travail_token",
            "PARCOURS_RETENTION_MONTHS": "retention_months",
            "PARCOURS_LABEL_FUNDING_EXEMPT": "label_funding_exempt",
            "PARCOURS_COMMUNE_TERRITORIES": "commune_territories",
        }
        for var, field in mapping.items():
            if env.get(var):
                values[field] = env[var]
        return cls(**values)

    @property
    def person_id_key(self) -> bytes:
        return self.person_id_secret.get_secret_value().encode("utf-8")


def check_person_id_secret(environ: Mapping[str, str] | None = None) -> str:
    """The production person-id secret: set, not the development value, at least 32 characters."""
    env = os.environ if environ is None else environ
    value = env.get(PERSON_ID_SECRET_VAR, "").strip()
    hint = "generate one with `parcours keys env`"
    if not value:
        raise ConfigError(f"{PERSON_ID_SECRET_VAR} is not set ({hint})")
    if value == DEV_PERSON_ID_SECRET:
        raise ConfigError(f"{PERSON_ID_SECRET_VAR} is the built-in development value ({hint})")
    if len(value) < MIN_PERSON_ID_SECRET_LENGTH:
        raise ConfigError(f"{PERSON_ID_SECRET_VAR} is too short: at least {MIN_PERSON_ID_SECRET_LENGTH} "
                          f"characters ({hint})")
    return value


def load_startup_secrets(loaders: Mapping[str, Callable[[], Any]]) -> tuple[dict[str, Any], list[str]]:
    """Run every loader; their values, and the message of each configuration error (all of them, not the first,
    so one look at the log shows everything a deployment lacks)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, load in loaders.items():
        try:
            values[name] = load()
        except ValueError as err:  # KeyConfigError, ApiTokenConfigError, TokenConfigError, ConfigError
            problems.append(str(err))
    return values, problems


def drop_directory(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """``PARCOURS_DROP_DIR``, default ``<PARCOURS_HOME>/drop`` (``.parcours/drop``), made absolute: the one place
    flow and caseload files (so NIRs and names) are kept."""
    env = os.environ if environ is None else environ
    return Path(env.get("PARCOURS_DROP_DIR") or settings.home / "drop").resolve()
