"""A complete production ``.env`` for ``docker-compose.yml``: every secret freshly generated, and the settings
only the département can give (OIDC provider, MonJob62, public URLs) listed empty so compose refuses to start
until they are filled in (``${VAR:?...}``)."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Sequence

from workers.api.auth import TOKENS_ENV_VAR as API_TOKENS_VAR
from workers.api.auth import token_entry
from workers.codec_server import TOKENS_ENV_VAR as CODEC_TOKENS_VAR
from workers.codec_server import AccessTokens
from workers.runtime.config import PERSON_ID_SECRET_VAR, check_person_id_secret
from workers.runtime.secret_files import new_token
from workers.runtime.keys import ENV_VAR as KEYS_VAR
from workers.runtime.keys import Keyring

#: Settings a deployment must provide itself: (variable, what to put there).
TO_FILL_IN: tuple[tuple[str, str], ...] = (
    ("PARCOURS_UI_URL", "public URL of the Temporal Web UI, e.g. https://temporal.departement.fr"),
    ("PARCOURS_CODEC_URL", "public URL of the codec server as the staff's browsers reach it"),
    ("TEMPORAL_AUTH_PROVIDER_URL", "OIDC issuer of the département's identity provider"),
    ("TEMPORAL_AUTH_CLIENT_ID", "OIDC client id registered for the Web UI"),
    ("TEMPORAL_AUTH_CLIENT_SECRET", "OIDC client secret of that client"),
    ("MONJOB62_URL", "base URL of the MonJob62 tracking platform"),
    ("MONJOB62_TOKEN", "bearer token MonJob62 gave the département"),
)


def generated_secrets(api_services: Sequence[str], codec_users: Sequence[str]) -> dict[str, str]:
    """Fresh values of every secret the services need (each validated by its own loader's rules)."""
    values = {
        "TEMPORAL_DB_PASSWORD": new_token(),
        "PARCOURS_DB_PASSWORD": new_token(),
        PERSON_ID_SECRET_VAR: secrets.token_urlsafe(48),
        KEYS_VAR: Keyring.generate().to_spec(),
        API_TOKENS_VAR: ",".join(token_entry(service) for service in api_services),
        CODEC_TOKENS_VAR: ",".join(f"{user}:{new_token()}" for user in codec_users),
    }
    check_person_id_secret(values)
    AccessTokens.parse(values[CODEC_TOKENS_VAR])
    return values


def production_env(api_services: Sequence[str] = ("integration",), codec_users: Sequence[str] = ("ops",),
                   now: datetime | None = None) -> str:
    """The ``.env`` text: generated secrets first, then the settings to fill in, each with its comment."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# parcours-rsa production settings, generated {stamp} by `parcours keys env`.",
             "# Keep this file private (mode 0600). Never change PARCOURS_PERSON_ID_SECRET once cases exist;",
             "# rotate PARCOURS_ENCRYPTION_KEYS with `parcours keys new --rotate` (README).", ""]
    lines += [f"{name}={value}" for name, value in generated_secrets(api_services, codec_users).items()]
    lines += ["", "# To fill in: docker compose refuses to start while one is empty."]
    for name, meaning in TO_FILL_IN:
        lines += [f"# {meaning}", f"{name}="]
    return "\n".join(lines) + "\n"
