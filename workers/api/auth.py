"""Bearer tokens of the HTTP API: one token per calling service, each with its scopes.

Configuration: ``PARCOURS_API_TOKENS`` is a comma-separated list of ``service:token:scope1+scope2`` (the
service name is what logs and the idempotency store record; the token at least 24 characters). Development:
with ``--dev`` and the variable unset, ``<PARCOURS_HOME>/api-tokens`` is created once (mode 0600) with a
``dev`` token holding every scope. Only SHA-256 digests of the tokens are kept in memory.

No token, or a token nobody holds → 401; a valid token without the endpoint's scope → 403.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Mapping

from workers.runtime.secret_files import configured_secret, dev_secret_file, new_token, token_digest

TOKENS_ENV_VAR = "PARCOURS_API_TOKENS"
DEV_TOKENS_FILE = "api-tokens"
MIN_TOKEN_LENGTH = 24
_SERVICE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class Scope(str, Enum):
    """What a calling service may do."""

    PATHWAY_START = "pathway.start"  # start (or re-signal) a person's pathway from a NIR
    PATHWAY_EVENTS = "pathway.events"  # left RSA, appointments, CER, bilan, orientation
    LABEL_APPLY = "label.apply"  # file a label application
    LABEL_DECIDE = "label.decide"  # evaluations and decisions on an application
    CASE_READ = "case.read"  # read a case's state (ids, stage, deadlines)
    PERSONAL_DATA = "personal_data"  # also read what describes the person (CER dates, history, exit)


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)


class ApiTokenConfigError(ValueError):
    """The API token configuration is missing or malformed (the message never shows a token)."""


@dataclass(frozen=True)
class Caller:
    """The authenticated calling service."""

    service: str
    scopes: frozenset[Scope]

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class ApiTokens:
    """Token digests with their service and scopes."""

    entries: tuple[tuple[bytes, Caller], ...]

    @classmethod
    def parse(cls, spec: str) -> "ApiTokens":
        entries: list[tuple[bytes, Caller]] = []
        services: set[str] = set()
        for number, raw in enumerate(re.split(r"[,\n]", spec), start=1):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            parts = entry.split(":")
            if len(parts) != 3:
                raise ApiTokenConfigError(f"{TOKENS_ENV_VAR} entry {number} must be service:token:scope1+scope2")
            service, token, scope_text = (p.strip() for p in parts)
            if not _SERVICE.match(service):
                raise ApiTokenConfigError(f"invalid service name {service!r} (letters, digits, . _ @ -)")
            if service in services:
                raise ApiTokenConfigError(f"service {service!r} appears twice")
            if len(token) < MIN_TOKEN_LENGTH:
                raise ApiTokenConfigError(f"token of {service!r} is too short (at least {MIN_TOKEN_LENGTH} characters)")
            scopes = set()
            for name in filter(None, (s.strip() for s in scope_text.split("+"))):
                try:
                    scopes.add(Scope(name))
                except ValueError:
                    known = ", ".join(s.value for s in Scope)
                    raise ApiTokenConfigError(f"unknown scope {name!r} for {service!r} (known: {known})") from None
            if not scopes:
                raise ApiTokenConfigError(f"token of {service!r} has no scope")
            digest = token_digest(token)
            if any(hmac.compare_digest(digest, d) for d, _ in entries):
                raise ApiTokenConfigError(f"token of {service!r} is also another service's token")
            services.add(service)
            entries.append((digest, Caller(service, frozenset(scopes))))
        if not entries:
            raise ApiTokenConfigError(f"no API token configured ({TOKENS_ENV_VAR})")
        return cls(tuple(entries))

    def authenticate(self, token: str | None) -> Caller | None:
        """The caller holding ``token``, or None; every digest is compared in constant time."""
        if not token:
            return None
        candidate = token_digest(token)
        found = None
        for digest, caller in self.entries:
            if hmac.compare_digest(candidate, digest):
                found = caller
        return found

    def __repr__(self) -> str:
        return f"ApiTokens(services={[c.service for _, c in self.entries]!r})"


def token_entry(service: str, scopes: frozenset[Scope] | set[Scope] = ALL_SCOPES) -> str:
    """A new ``service:token:scopes`` entry (validated)."""
    entry = f"{service}:{new_token()}:{'+'.join(sorted(s.value for s in scopes))}"
    ApiTokens.parse(entry)
    return entry


def load_api_tokens(settings_dir: Path | None, environ: Mapping[str, str] | None = None) -> ApiTokens:
    """Tokens from ``PARCOURS_API_TOKENS``, else (``settings_dir`` given: development) the dev token file."""
    spec = configured_secret(TOKENS_ENV_VAR, settings_dir, DEV_TOKENS_FILE, _dev_tokens, environ)
    if spec is None:
        raise ApiTokenConfigError(f"{TOKENS_ENV_VAR} is not set (service:token:scope1+scope2, comma-separated)")
    return ApiTokens.parse(spec)


def _dev_tokens() -> str:
    return (f"# parcours dev API tokens (service:token:scopes). Production uses {TOKENS_ENV_VAR}.\n"
            f"{token_entry('dev')}\n")


def dev_tokens_spec(settings_dir: Path) -> str:
    """Content of ``<settings_dir>/api-tokens``, created the first time with a ``dev`` token of every scope."""
    return dev_secret_file(settings_dir / DEV_TOKENS_FILE, _dev_tokens)


def dev_token(settings_dir: Path) -> str:
    """The ``dev`` service's token of the dev file (for ``parcours dev`` to print where it is)."""
    for line in dev_tokens_spec(settings_dir).splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] == "dev":
            return parts[1]
    raise ApiTokenConfigError(f"no dev token in {settings_dir / DEV_TOKENS_FILE}")
