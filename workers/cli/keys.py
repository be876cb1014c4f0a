"""``parcours keys ...`` (payload encryption keys, codec tokens) and ``parcours codec-server``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from workers.runtime.keys import ENV_VAR, KeyConfigError, Keyring, format_key, load_keyring, new_key, new_key_id

app = typer.Typer(help="Payload encryption keys and codec server tokens.", no_args_is_help=True)

_DEV = typer.Option(False, "--dev", help="Use the dev keyring/tokens of PARCOURS_HOME (.parcours) when the variable is unset.")


def register(root: typer.Typer) -> None:
    """Attach ``parcours codec-server`` to the root app (the ``keys`` group is added with ``add_typer``)."""
    root.command("codec-server")(codec_server)


def _settings_dir(dev: bool) -> Path | None:
    if not dev:
        return None
    from workers.runtime.config import Settings

    return Settings.from_env().home


@app.command("new")
def keys_new(
    key_id: str = typer.Option(None, "--key-id", help="Key id (default: k<date>-<random>)."),
    rotate: bool = typer.Option(
        False, "--rotate", help=f"Print the whole new {ENV_VAR} value: the new key first, then the current ones."
    ),
) -> None:
    """Print a new AES-256 key as ``keyid:base64key``."""
    entry_id, key = key_id or new_key_id(), new_key()
    try:
        Keyring(((entry_id, key),))  # validates the id
        if rotate:
            typer.echo(load_keyring(None).rotated(entry_id, key).to_spec())
            typer.echo(f"Set {ENV_VAR} to this value; keep the old keys while histories need them.", err=True)
            return
    except KeyConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    typer.echo(format_key(entry_id, key))
    typer.echo(f"Put it first in {ENV_VAR} (comma-separated keyid:base64key) to make it current.", err=True)


@app.command("list")
def keys_list(dev: bool = _DEV) -> None:
    """Show the configured key ids (never the keys); the first is current."""
    try:
        keyring = load_keyring(_settings_dir(dev))
    except KeyConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    for key_id in keyring.ids:
        typer.echo(f"{key_id}{'  (current)' if key_id == keyring.current_id else ''}")


@app.command("token")
def keys_token(name: str = typer.Argument(..., help="Who holds the token (recorded in the audit log).")) -> None:
    """Print a new codec server token as ``name:token`` for PARCOURS_CODEC_TOKENS."""
    from workers.codec_server import AccessTokens, TokenConfigError, new_token

    entry = f"{name}:{new_token()}"
    try:
        AccessTokens.parse(entry)
    except TokenConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    typer.echo(entry)


@app.command("env")
def keys_env(
    api_service: list[str] = typer.Option(
        None, "--api-service", help="A service calling the HTTP API, given a token with every scope (repeatable; "
        "default: integration). Narrow the scopes in the file if needed."),
    codec_user: list[str] = typer.Option(
        None, "--codec-user", help="Who reads payloads through the codec server (repeatable; default: ops)."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write the file (mode 0600; refused if it exists) instead of printing it."),
) -> None:
    """Print a complete production .env: fresh secrets for every service, and the settings to fill in."""
    from workers.cli.production_env import production_env

    try:
        text = production_env(api_service or ["integration"], codec_user or ["ops"])
    except ValueError as err:  # an invalid service or user name
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        typer.echo(f"{output} exists: not overwritten (its secrets may already be in use)", err=True)
        raise typer.Exit(2) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    typer.echo(f"wrote {output} (mode 0600); fill in the empty settings at its end", err=True)


def codec_server(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8081, "--port"),
    cors_origin: list[str] = typer.Option(
        None, "--cors-origin", help="Web UI origin allowed by CORS (repeatable; default PARCOURS_CODEC_CORS_ORIGINS "
        "or http://localhost:8233)."
    ),
    dev: bool = _DEV,
) -> None:
    """Serve /encode and /decode for the Temporal Web UI (token required, decodes audited in PostgreSQL)."""
    import uvicorn

    from workers.cli.common import secrets_or_exit
    from workers.runtime.codec import EncryptionCodec
    from workers.runtime.codec_oidc import load_oidc_verifier
    from workers.codec_server import cors_origins_from_env, create_app, load_codec_tokens
    from workers.runtime.config import Settings

    settings = Settings.from_env()
    settings_dir = settings.home if dev else None
    loaded = secrets_or_exit("codec-server", {"keyring": lambda: load_keyring(settings_dir),
                                              "tokens": lambda: load_codec_tokens(settings_dir),
                                              "oidc": load_oidc_verifier})
    keyring, tokens = loaded["keyring"], loaded["tokens"]
    if not settings.database_url:
        typer.echo("DATABASE_URL is not set (the decode audit log is kept in PostgreSQL)", err=True)
        raise typer.Exit(2)
    app_ = create_app(
        EncryptionCodec(keyring),
        tokens,
        database_url=settings.database_url,
        cors_origins=cors_origin or cors_origins_from_env(),
        oidc=loaded["oidc"],
    )
    # No access log: in dev the token may be part of the URL.
    uvicorn.run(app_, host=host, port=port, access_log=False, log_level="warning")
