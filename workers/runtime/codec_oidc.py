"""OIDC access tokens for the codec server: what a production Temporal Web UI with OIDC login can send.

Such a UI cannot add our static tokens; with ``codec.passAccessToken: true`` (``TEMPORAL_CODEC_PASS_ACCESS_TOKEN``,
docs.temporal.io/references/web-ui-configuration#codec) it forwards the signed-in user's access token as
``Authorization: Bearer <JWT>``. This module checks such a token: signature by a key of the identity provider's
JWKS (a local file, required so the server starts offline; optionally a URL fetched at start and again when a token
names an unknown ``kid``, at most once a minute), ``RS256``/``ES256`` only (never ``none`` nor HMAC, whose "secret"
could be the public key), ``exp``/``nbf`` with a small leeway, ``iss`` and ``aud``. The user claim (default
``email``, else ``sub``) names the user in the audit table only: it is personal data, kept out of logs. A token
grants ``decode`` when its decode claim holds one of the configured values; OIDC never grants ``encode``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import httpx
import jwt
import structlog

ISSUER_VAR = "PARCOURS_CODEC_OIDC_ISSUER"
AUDIENCE_VAR = "PARCOURS_CODEC_OIDC_AUDIENCE"
JWKS_FILE_VAR = "PARCOURS_CODEC_OIDC_JWKS_FILE"
JWKS_URL_VAR = "PARCOURS_CODEC_OIDC_JWKS_URL"
JWKS_TIMEOUT_VAR = "PARCOURS_CODEC_OIDC_JWKS_TIMEOUT"
ALGORITHMS_VAR = "PARCOURS_CODEC_OIDC_ALGORITHMS"
USER_CLAIM_VAR = "PARCOURS_CODEC_OIDC_USER_CLAIM"
DECODE_CLAIM_VAR = "PARCOURS_CODEC_OIDC_DECODE_CLAIM"
DECODE_VALUES_VAR = "PARCOURS_CODEC_OIDC_DECODE_VALUES"

SUPPORTED_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30
MAX_TOKEN_LENGTH = 16 * 1024
MAX_USER_LENGTH = 256
REFRESH_INTERVAL_SECONDS = 60.0
AUDIT_PREFIX = "oidc:"

log = structlog.get_logger("parcours.codec_oidc")


class OidcConfigError(ValueError):
    """The OIDC settings of the codec server are incomplete or unsafe (the message names the variable)."""


class OidcRefused(Exception):
    """A token refused; ``status`` 401 (not a valid token) or 403 (valid, but no right), ``reason`` safe to log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_file: Path
    decode_values: frozenset[str]
    jwks_url: str | None = None
    jwks_timeout: float = 5.0
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS
    user_claim: str = "email"
    decode_claim: str = "groups"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "OidcSettings | None":
        """None unless ``PARCOURS_CODEC_OIDC_ISSUER`` is set; then every required setting must be."""
        env = os.environ if environ is None else environ
        issuer = env.get(ISSUER_VAR, "").strip()
        if not issuer:
            return None
        missing = [v for v in (AUDIENCE_VAR, JWKS_FILE_VAR, DECODE_VALUES_VAR) if not env.get(v, "").strip()]
        if missing:
            raise OidcConfigError(f"{ISSUER_VAR} is set but {', '.join(missing)} is not")
        algorithms = tuple(a.strip() for a in env.get(ALGORITHMS_VAR, ",".join(SUPPORTED_ALGORITHMS)).split(",")
                           if a.strip())
        if not algorithms or set(algorithms) - set(SUPPORTED_ALGORITHMS):
            raise OidcConfigError(f"{ALGORITHMS_VAR} must be among {','.join(SUPPORTED_ALGORITHMS)}")
        try:
            timeout = float(env.get(JWKS_TIMEOUT_VAR, "5"))
        except ValueError:
            raise OidcConfigError(f"{JWKS_TIMEOUT_VAR} must be a number of seconds") from None
        if not 0 < timeout <= 60:
            raise OidcConfigError(f"{JWKS_TIMEOUT_VAR} must be between 0 and 60 seconds")
        url = env.get(JWKS_URL_VAR, "").strip() or None
        if url and not url.startswith("https://"):
            raise OidcConfigError(f"{JWKS_URL_VAR} must be an https:// URL")
        return cls(issuer=issuer, audience=env[AUDIENCE_VAR].strip(), jwks_file=Path(env[JWKS_FILE_VAR].strip()),
                   decode_values=frozenset(v.strip() for v in env[DECODE_VALUES_VAR].split(",") if v.strip()),
                   jwks_url=url, jwks_timeout=timeout, algorithms=algorithms,
                   user_claim=env.get(USER_CLAIM_VAR, "").strip() or "email",
                   decode_claim=env.get(DECODE_CLAIM_VAR, "").strip() or "groups")


def parse_jwks(document: Any, source: str) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by ``kid`` (keys without one, or of another use, are ignored)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise OidcConfigError(f"{source}: not a JWKS document (an object with a 'keys' list)")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if key.algorithm_name in SUPPORTED_ALGORITHMS:
            keys[entry["kid"]] = key
    return keys


class OidcVerifier:
    """Checks access tokens against the settings; ``transport`` lets tests serve the JWKS URL without a network."""

    def __init__(self, settings: OidcSettings, keys: Mapping[str, jwt.PyJWK],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._keys = dict(keys)
        self._transport = transport
        self._last_fetch = float("-inf")

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return token.count(".") == 2 and len(token) <= MAX_TOKEN_LENGTH

    async def verify(self, token: str, scope: str) -> str:
        """The audit name (``oidc:<user>``) of a valid token holding ``scope``, or :class:`OidcRefused`."""
        claims = await self._claims(token)
        user = claims.get(self.settings.user_claim) or claims.get("sub")
        if not isinstance(user, str) or not user.strip() or len(user) > MAX_USER_LENGTH:
            raise OidcRefused(401, f"no usable {self.settings.user_claim} or sub claim")
        if scope != "decode":
            raise OidcRefused(403, f"an OIDC token is never granted the {scope!r} scope")
        if not self._grants_decode(claims):
            raise OidcRefused(403, f"the {self.settings.decode_claim} claim holds none of the decode values")
        return AUDIT_PREFIX + user.strip()

    async def _claims(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise OidcRefused(401, "malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.settings.algorithms:
            raise OidcRefused(401, "algorithm not accepted")
        if not isinstance(kid, str):
            raise OidcRefused(401, "token names no key (kid)")
        key = self._keys.get(kid) or await self._refreshed(kid)
        if key is None:
            raise OidcRefused(401, "unknown signing key")
        if key.algorithm_name != alg:
            raise OidcRefused(401, "algorithm does not match the key")
        try:
            return jwt.decode(token, key.key, algorithms=[alg], audience=self.settings.audience,
                              issuer=self.settings.issuer, leeway=LEEWAY_SECONDS,
                              options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise OidcRefused(401, "token expired") from None
        except jwt.ImmatureSignatureError:
            raise OidcRefused(401, "token not yet valid") from None
        except jwt.InvalidIssuerError:
            raise OidcRefused(401, "wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise OidcRefused(401, "wrong audience") from None
        except jwt.MissingRequiredClaimError as err:
            raise OidcRefused(401, f"missing claim {err.claim}") from None
        except jwt.InvalidSignatureError:
            raise OidcRefused(401, "bad signature") from None
        except jwt.InvalidTokenError:
            raise OidcRefused(401, "invalid token") from None

    def _grants_decode(self, claims: dict) -> bool:
        value: Any = claims
        for part in self.settings.decode_claim.split("."):  # e.g. Keycloak's realm_access.roles
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):  # a space-separated list, like the scope claim
            value = value.split()
        held = {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()
        return bool(held & self.settings.decode_values)

    async def _refreshed(self, kid: str) -> jwt.PyJWK | None:
        """Fetch the JWKS URL again for an unknown ``kid`` (the provider rotated its keys), at most once a minute."""
        now = time.monotonic()
        if not self.settings.jwks_url or now - self._last_fetch < REFRESH_INTERVAL_SECONDS:
            return None
        self._last_fetch = now
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=self.settings.jwks_timeout) as client:
                fetched = _jwks_of(await client.get(self.settings.jwks_url))
        except (httpx.HTTPError, ValueError) as err:
            log.warning("codec_oidc_jwks_refresh_failed", error=type(err).__name__)
            return None
        self._keys.update(fetched)
        return self._keys.get(kid)


def _jwks_of(response: httpx.Response) -> dict[str, jwt.PyJWK]:
    response.raise_for_status()
    return parse_jwks(response.json(), JWKS_URL_VAR)


def load_oidc_verifier(environ: Mapping[str, str] | None = None,
                       transport: httpx.MockTransport | None = None) -> OidcVerifier | None:
    """The verifier the environment configures, or None (OIDC off). The JWKS file must load; the URL, if set, is
    fetched once now, and a failure there only leaves the file's keys (the server works offline). ``transport``
    (tests) serves the URL, now and on refreshes."""
    settings = OidcSettings.from_env(environ)
    if settings is None:
        return None
    try:
        keys = parse_jwks(json.loads(settings.jwks_file.read_text(encoding="utf-8")), JWKS_FILE_VAR)
    except (OSError, ValueError) as err:
        raise OidcConfigError(f"{JWKS_FILE_VAR}: cannot read the JWKS file ({type(err).__name__})") from None
    if not keys:
        raise OidcConfigError(f"{JWKS_FILE_VAR}: no RS256/ES256 signing key with a kid")
    if settings.jwks_url:
        try:
            with httpx.Client(transport=transport, timeout=settings.jwks_timeout) as client:
                keys.update(_jwks_of(client.get(settings.jwks_url)))
        except (httpx.HTTPError, ValueError) as err:
            log.warning("codec_oidc_jwks_fetch_failed", error=type(err).__name__)
    return OidcVerifier(settings, keys, transport)
