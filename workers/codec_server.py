"""Codec server: lets authorised staff read encrypted payloads in the Temporal Web UI, and records who did.

Temporal codec server protocol: ``POST .../encode`` and ``POST .../decode`` take and return a ``Payloads``
protobuf in its JSON form (``{"payloads": [{"metadata": {...}, "data": "<base64>"}]}``); only the last path
segment selects the operation; the UI sends the namespace in ``X-Namespace``.

Access: every request needs a token from ``PARCOURS_CODEC_TOKENS`` (comma-separated ``name:token`` or
``name:token:scope1+scope2``; the name is what the audit log records as "who"). Scopes: ``decode`` (the default:
read payloads in the UI) and ``encode`` (make payloads the workers accept: given to nobody by default, as it lets
its holder forge signals). The token is read from ``Authorization: Bearer <token>``; because the Web UI of a dev
server cannot add that header, the token may instead be the path segment before the operation
(``--ui-codec-endpoint http://localhost:8081/t/<token>``), development only. No token → 401, unknown token or
missing scope → 403.

OIDC (optional, ``workers.runtime.codec_oidc``, settings ``PARCOURS_CODEC_OIDC_*``): a production Web UI with OIDC
login sends no static token but, with ``codec.passAccessToken: true`` (docs.temporal.io/references/
web-ui-configuration#codec), the signed-in user's access token as ``Authorization: Bearer <JWT>``. A bearer that
is no static token is then checked as such a JWT (header only, never in the path): invalid → 401, valid without
the decode group → 403; it may decode, never encode. The audit row names the user (``oidc:<email or sub>``); logs
say only ``oidc``, as the user's name is personal data.

The CORS preflight (``OPTIONS``) is answered for the configured UI origins without a token, as browsers send it
without credentials.

Audit (``workers.runtime.codec_audit``): every authorised request writes one ``codec_audit`` row per case BEFORE any
result is returned; if the rows cannot be written, nothing is returned (503). The case is the workflow id our
encoder bound into the payloads; only payloads without one are attributed to what the client claims
(``X-Workflow-Id`` header, ``workflowId`` field, ``Referer`` path ``.../workflows/<id>/...``), marked as such.

Bodies: at most 8 MiB of JSON in the Payloads shape; anything else (not JSON, too large, too deep, wrong shape)
is a 4xx JSON answer, never a 500.
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

from workers.runtime.codec import CodecError, EncryptionCodec
from workers.runtime.codec_audit import AuditEntry, AuditLog, cases, key_ids
from workers.runtime.codec_oidc import AUDIT_PREFIX, OidcRefused, OidcVerifier
from workers.runtime.pg import pool_lifespan
from workers.runtime.secret_files import configured_secret, dev_secret_file, new_token, token_digest
from workers.runtime.keys import UnknownKeyError

TOKENS_ENV_VAR = "PARCOURS_CODEC_TOKENS"
CORS_ENV_VAR = "PARCOURS_CODEC_CORS_ORIGINS"
DEV_TOKENS_FILE = "codec-tokens"
DEFAULT_UI_ORIGIN = "http://localhost:8233"
DEFAULT_PORT = 8081
MAX_BODY_BYTES = 8 * 1024 * 1024
DECODE, ENCODE = "decode", "encode"
SCOPES = frozenset({DECODE, ENCODE})

log = structlog.get_logger("parcours.codec_server")
_REFERER_WORKFLOW = re.compile(r"/workflows/([^/]+)(?:/|$)")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class TokenConfigError(ValueError):
    """The codec token configuration is missing or malformed."""


@dataclass(frozen=True)
class AccessTokens:
    """Named bearer tokens and their scopes; only their SHA-256 digests are kept in memory."""

    digests: tuple[tuple[str, bytes], ...]
    scopes: tuple[tuple[str, frozenset[str]], ...] = ()

    @classmethod
    def from_pairs(cls, pairs: Mapping[str, str],
                   scopes: Mapping[str, frozenset[str]] | None = None) -> "AccessTokens":
        """``scopes`` by name; a name not given there may only decode."""
        if not pairs:
            raise TokenConfigError(f"no codec token configured ({TOKENS_ENV_VAR})")
        scopes = scopes or {}
        for name, token in pairs.items():
            if not _TOKEN_NAME.match(name):
                raise TokenConfigError(f"invalid token name {name!r}")
            if len(token) < 16:
                raise TokenConfigError(f"token {name!r} is too short (at least 16 characters)")
            unknown = set(scopes.get(name, ())) - SCOPES
            if unknown or (name in scopes and not scopes[name]):
                raise TokenConfigError(f"token {name!r}: scopes must be among {'+'.join(sorted(SCOPES))}")
        return cls(tuple((name, token_digest(token)) for name, token in pairs.items()),
                   tuple((name, frozenset(scopes.get(name, {DECODE}))) for name in pairs))

    @classmethod
    def parse(cls, spec: str) -> "AccessTokens":
        pairs: dict[str, str] = {}
        scopes: dict[str, frozenset[str]] = {}
        for raw in re.split(r"[,\n]", spec):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            name, sep, rest = entry.partition(":")
            if not sep:
                raise TokenConfigError("codec token entry must be name:token or name:token:scopes")
            name = name.strip()
            if name in pairs:
                raise TokenConfigError(f"token name {name!r} appears twice")
            token, has_scopes, scope_spec = rest.partition(":")
            pairs[name] = token.strip()
            if has_scopes:
                scopes[name] = frozenset(s.strip() for s in scope_spec.split("+") if s.strip())
        return cls.from_pairs(pairs, scopes)

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

    def allows(self, name: str, scope: str) -> bool:
        return any(holder == name and scope in granted for holder, granted in self.scopes)


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


def create_app(
    codec: EncryptionCodec,
    tokens: AccessTokens,
    *,
    pool: asyncpg.Pool | None = None,
    database_url: str | None = None,
    cors_origins: Sequence[str] = (DEFAULT_UI_ORIGIN,),
    oidc: OidcVerifier | None = None,
) -> FastAPI:
    """The codec server app; give an open ``pool`` (tests), or a ``database_url`` opened at startup; ``oidc``
    also accepts the Web UI's OIDC access tokens."""
    if pool is None and not database_url:
        raise ValueError("the codec server needs PostgreSQL for its audit log (pool or database_url)")
    state: dict[str, AuditLog] = {}
    lifespan = pool_lifespan(pool, database_url, lambda p: state.__setitem__("audit", AuditLog(p)))

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

    async def audited(request: Request, who: str, entries: list[AuditEntry]) -> JSONResponse | None:
        """Write the rows, or the 503 that stops the answer."""
        if not entries:
            return None
        try:
            await state["audit"].record(entries)
        except Exception as err:  # no audit row, no answer
            log.error("codec_audit_failed", who=_loggable(who), error=type(err).__name__)
            return _error(503, f"{entries[0].operation} refused: the audit log could not be written")
        for entry in entries:
            log.info(f"codec_{entry.operation}", who=_loggable(who), namespace=entry.namespace,
                     workflow_id=entry.workflow_id,
                     workflow_id_source=entry.workflow_id_source, payloads=entry.payload_count, outcome=entry.outcome)
        return None

    def entry(request: Request, who: str, operation: str, workflow_id: str | None, source: str | None,
              payloads, outcome: str) -> AuditEntry:
        return AuditEntry(token_name=who, operation=operation, namespace=_header(request, "x-namespace"),
                          workflow_id=workflow_id, workflow_id_source=source, payload_count=len(payloads),
                          key_ids=key_ids(payloads), outcome=outcome, origin=_header(request, "origin"),
                          client=request.client.host if request.client else None)

    @app.post("/encode")
    @app.post("/{prefix:path}/encode")
    async def encode(request: Request) -> JSONResponse:
        who = await _authenticate(request, tokens, ENCODE, oidc)
        if isinstance(who, JSONResponse):
            return who
        parsed = await _read_payloads(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        payloads, body = parsed
        encoded = await codec.encode(payloads)
        claimed = _claimed_workflow_id(request, body)
        refused = await audited(request, who, [entry(request, who, ENCODE, claimed, "client" if claimed else None,
                                                     encoded, "encoded")])
        return refused or _payloads_response(encoded)

    @app.post("/decode")
    @app.post("/{prefix:path}/decode")
    async def decode(request: Request) -> JSONResponse:
        who = await _authenticate(request, tokens, DECODE, oidc)
        if isinstance(who, JSONResponse):
            return who
        parsed = await _read_payloads(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        payloads, body = parsed
        decoded, failed, errors = [], set(), []
        for index, payload in enumerate(payloads):
            try:
                decoded.append(codec.decrypt(payload))
            except (CodecError, UnknownKeyError) as err:
                failed.add(index)
                errors.append(str(err))
        rows = [entry(request, who, DECODE, case.workflow_id, case.source, case.payloads,
                      "failed" if case.failed else "decoded")
                for case in cases(payloads, failed, _claimed_workflow_id(request, body))]
        refused = await audited(request, who, rows)
        if refused is not None:
            return refused
        if errors:
            return _error(422, errors[0])
        return _payloads_response(decoded)

    return app


async def _authenticate(request: Request, tokens: AccessTokens, scope: str,
                        oidc: OidcVerifier | None) -> str | JSONResponse:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else None
    if token and oidc is not None and tokens.who(token) is None and oidc.looks_like_jwt(token):
        return await _authenticate_oidc(request, oidc, token, scope)
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
    if not tokens.allows(who, scope):
        log.warning("codec_refused", reason="scope", who=who, scope=scope)
        return _error(403, f"token {who!r} lacks the {scope!r} scope",
                      headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
    return who


async def _authenticate_oidc(request: Request, oidc: OidcVerifier, token: str, scope: str) -> str | JSONResponse:
    """The audit name of the token's user, or the refusal: its reason is logged, never the token nor the user."""
    try:
        return await oidc.verify(token, scope)
    except OidcRefused as refused:
        log.warning("codec_refused", reason=f"oidc: {refused.reason}", path=request.url.path.rsplit("/", 1)[-1])
        error = "insufficient_scope" if refused.status == 403 else "invalid_token"
        return _error(refused.status, f"OIDC token refused: {refused.reason}",
                      headers={"WWW-Authenticate": f'Bearer error="{error}"'})


def _loggable(who: str) -> str:
    """A static token's name as is; an OIDC user (personal data) only as ``oidc``."""
    return "oidc" if who.startswith(AUDIT_PREFIX) else who


async def _read_payloads(request: Request) -> tuple[list[Payload], dict] | JSONResponse:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(bytes(raw) or b"{}")
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        message = json_format.ParseDict(body, Payloads(), ignore_unknown_fields=True)
    except RecursionError:
        return _error(400, "body is nested too deeply")
    except (ValueError, TypeError, json_format.ParseError) as err:
        return _error(400, f"body is not a Payloads JSON document: {str(err)[:200]}")
    return list(message.payloads), body


def _claimed_workflow_id(request: Request, body: dict) -> str | None:
    """What the client says the payloads belong to: recorded only for payloads that do not say it themselves."""
    candidate = _header(request, "x-workflow-id") or body.get("workflowId") or body.get("workflow_id")
    if not candidate:
        referer = _header(request, "referer")
        match = _REFERER_WORKFLOW.search(urlparse(referer).path) if referer else None
        candidate = unquote(match.group(1)) if match else None
    return candidate[:1000] if isinstance(candidate, str) and candidate else None


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(name)
    return value[:1000] if value else None


def _payloads_response(payloads: Sequence[Payload]) -> JSONResponse:
    return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in payloads]})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
