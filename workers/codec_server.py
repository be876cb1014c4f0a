"""Codec server: lets authorised staff read encrypted payloads in the Temporal Web UI, and records who did.

Temporal codec server protocol: ``POST .../encode`` and ``POST .../decode`` take and return a ``Payloads``
protobuf in its JSON form (``{"payloads": [{"metadata": {...}, "data": "<base64>"}]}``); only the last path
segment selects the operation; the UI sends the namespace in ``X-Namespace``.

Access: every encode/decode needs a token from ``PARCOURS_CODEC_TOKENS`` (comma-separated ``name:token``; the
name is what the audit log records as "who"). It is read from ``Authorization: Bearer <token>``; because the
Web UI of a dev server cannot add that header, the token may instead be the path segment before the operation
(``--ui-codec-endpoint http://localhost:8081/t/<token>``), development only. No token → 401, unknown token →
403. The CORS preflight (``OPTIONS``) is answered for the configured UI origins without a token, as browsers
send it without credentials.

Audit: every authorised decode request writes one ``codec_audit`` row (token name, time, namespace, workflow
id when known, payload count, key ids, outcome) BEFORE any clear data is returned; if the row cannot be
written, nothing is decoded (503). The UI does not send the workflow id; it is taken, when available, from an
``X-Workflow-Id`` header, a ``workflowId`` field of the body, or the ``Referer`` path
(``.../workflows/<id>/...``).
"""

from __future__ import annotations

import hmac
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import unquote, urlparse

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from workers.codec import CodecError, EncryptionCodec
from workers.pg import pool_lifespan
from workers.dev_secrets import configured_secret, dev_secret_file, new_token, token_digest
from workers.keys import UnknownKeyError

TOKENS_ENV_VAR = "PARCOURS_CODEC_TOKENS"
CORS_ENV_VAR = "PARCOURS_CODEC_CORS_ORIGINS"
DEV_TOKENS_FILE = "codec-tokens"
DEFAULT_UI_ORIGIN = "http://localhost:8233"
DEFAULT_PORT = 8081

log = structlog.get_logger("parcours.codec_server")
_REFERER_WORKFLOW = re.compile(r"/workflows/([^/]+)(?:/|$)")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class TokenConfigError(ValueError):
    """The codec token configuration is missing or malformed."""


@dataclass(frozen=True)
class AccessTokens:
    """Named bearer tokens; only their SHA-256 digests are kept in memory."""

    digests: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_pairs(cls, pairs: Mapping[str, str]) -> "AccessTokens":
        if not pairs:
            raise TokenConfigError(f"no codec token configured ({TOKENS_ENV_VAR})")
        for name, token in pairs.items():
            if not _TOKEN_NAME.match(name):
                raise TokenConfigError(f"invalid token name {name!r}")
            if len(token) < 16:
                raise TokenConfigError(f"token {name!r} is too short (at least 16 characters)")
        return cls(tuple((name, token_digest(token)) for name, token in pairs.items()))

    @classmethod
    def parse(cls, spec: str) -> "AccessTokens":
        pairs: dict[str, str] = {}
        for raw in re.split(r"[,\n]", spec):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            name, sep, token = entry.partition(":")
            if not sep:
                raise TokenConfigError("codec token entry must be name:token")
            if name.strip() in pairs:
                raise TokenConfigError(f"token name {name.strip()!r} appears twice")
            pairs[name.strip()] = token.strip()
        return cls.from_pairs(pairs)

    def who(self, token: str | None) -> str | None:
        """The name of the token, or None; compares every digest in constant time."""
        if not token:
            return None
        candidate = token_digest(token)
        found = None
        for name, digest in self.digests:
            if hmac.compare_digest(candidate, digest):
                found = name
        return found


def load_codec_tokens(settings_dir: Path | None, environ: Mapping[str, str] | None = None) -> AccessTokens:
    """Tokens from ``PARCOURS_CODEC_TOKENS``, else (dev) ``<settings_dir>/codec-tokens``, created with a
    ``dev`` token the first time. ``settings_dir=None`` (production) requires the variable."""
    spec = configured_secret(TOKENS_ENV_VAR, settings_dir, DEV_TOKENS_FILE, _dev_tokens, environ)
    if spec is None:
        raise TokenConfigError(f"{TOKENS_ENV_VAR} is not set (name:token, comma-separated)")
    return AccessTokens.parse(spec)


def _dev_tokens() -> str:
    return (f"# parcours dev codec server tokens (name:token). Production uses {TOKENS_ENV_VAR}.\n"
            f"dev:{new_token()}\n")


def dev_token_spec(settings_dir: Path) -> str:
    """The dev token file's content (``dev:<token>``), created once with mode 0600."""
    return dev_secret_file(settings_dir / DEV_TOKENS_FILE, _dev_tokens)


def cors_origins_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    raw = env.get(CORS_ENV_VAR, "")
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()] or [DEFAULT_UI_ORIGIN]


@dataclass(frozen=True)
class DecodeAuditEntry:
    token_name: str
    namespace: str | None
    workflow_id: str | None
    payload_count: int
    key_ids: tuple[str, ...]
    outcome: str  # "decoded" or "failed"
    origin: str | None
    client: str | None


class DecodeAuditLog:
    """Adapter writing ``codec_audit`` rows (migration 005) through an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, entry: DecodeAuditEntry) -> None:
        await self._pool.execute(
            """INSERT INTO codec_audit
                   (token_name, namespace, workflow_id, payload_count, key_ids, outcome, origin, client)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            entry.token_name, entry.namespace, entry.workflow_id, entry.payload_count,
            list(entry.key_ids), entry.outcome, entry.origin, entry.client,
        )


def create_app(
    codec: EncryptionCodec,
    tokens: AccessTokens,
    *,
    pool: asyncpg.Pool | None = None,
    database_url: str | None = None,
    cors_origins: Sequence[str] = (DEFAULT_UI_ORIGIN,),
) -> FastAPI:
    """The codec server app; give an open ``pool`` (tests), or a ``database_url`` opened at startup."""
    if pool is None and not database_url:
        raise ValueError("the codec server needs PostgreSQL for its audit log (pool or database_url)")
    state: dict[str, DecodeAuditLog] = {}
    lifespan = pool_lifespan(pool, database_url, lambda p: state.__setitem__("audit", DecodeAuditLog(p)))

    app = FastAPI(
        title="parcours-rsa codec server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.rstrip("/") for o in cors_origins],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace", "X-Workflow-Id"],
        allow_credentials=True,
        max_age=600,
    )

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post("/encode")
    @app.post("/{prefix:path}/encode")
    async def encode(request: Request) -> JSONResponse:
        who = _authenticate(request, tokens)
        if isinstance(who, JSONResponse):
            return who
        parsed = await _read_payloads(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        payloads, _ = parsed
        return _payloads_response(await codec.encode(payloads))

    @app.post("/decode")
    @app.post("/{prefix:path}/decode")
    async def decode(request: Request) -> JSONResponse:
        who = _authenticate(request, tokens)
        if isinstance(who, JSONResponse):
            return who
        parsed = await _read_payloads(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        payloads, body = parsed
        try:
            decoded = await codec.decode(payloads)
            outcome, error = "decoded", None
        except (CodecError, UnknownKeyError) as err:
            decoded, outcome, error = None, "failed", str(err)
        entry = DecodeAuditEntry(
            token_name=who,
            namespace=request.headers.get("x-namespace"),
            workflow_id=_workflow_id(request, body),
            payload_count=len(payloads),
            key_ids=tuple(sorted({k for k in map(EncryptionCodec.key_id_of, payloads) if k})),
            outcome=outcome,
            origin=request.headers.get("origin"),
            client=request.client.host if request.client else None,
        )
        try:
            await state["audit"].record(entry)
        except Exception as err:  # no audit row, no clear data
            log.error("codec_audit_failed", who=who, error=type(err).__name__)
            return _error(503, "decode refused: the audit log could not be written")
        log.info("codec_decode", who=who, namespace=entry.namespace, workflow_id=entry.workflow_id,
                 payloads=entry.payload_count, outcome=outcome)
        if decoded is None:
            return _error(422, error or "payload could not be decoded")
        return _payloads_response(decoded)

    return app


def _authenticate(request: Request, tokens: AccessTokens) -> str | JSONResponse:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else None
    prefix = request.path_params.get("prefix", "")
    if not token and prefix:
        token = unquote(prefix.rstrip("/").rsplit("/", 1)[-1]) or None
    if not token:
        log.warning("codec_refused", reason="no token", path=request.url.path.rsplit("/", 1)[-1])
        return _error(401, "bearer token required", headers={"WWW-Authenticate": "Bearer"})
    who = tokens.who(token)
    if who is None:
        log.warning("codec_refused", reason="unknown token", path=request.url.path.rsplit("/", 1)[-1])
        return _error(403, "token not accepted", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return who


async def _read_payloads(request: Request) -> tuple[list[Payload], dict] | JSONResponse:
    try:
        body = json.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        message = json_format.ParseDict(body, Payloads(), ignore_unknown_fields=True)
    except (ValueError, json_format.ParseError) as err:
        return _error(400, f"body is not a Payloads JSON document: {err}")
    return list(message.payloads), body


def _workflow_id(request: Request, body: dict) -> str | None:
    candidate = request.headers.get("x-workflow-id") or body.get("workflowId") or body.get("workflow_id")
    if not candidate:
        referer = request.headers.get("referer")
        match = _REFERER_WORKFLOW.search(urlparse(referer).path) if referer else None
        candidate = unquote(match.group(1)) if match else None
    return str(candidate)[:1000] if candidate else None


def _payloads_response(payloads: Sequence[Payload]) -> JSONResponse:
    return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in payloads]})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
