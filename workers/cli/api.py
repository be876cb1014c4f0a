"""``parcours api``: the HTTP API for the Département's other services (``workers.api.app``)."""

from __future__ import annotations

import asyncio

import typer


def register(root: typer.Typer) -> None:
    """Attach ``parcours api`` to the root app."""
    root.command("api")(api)


def api(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    dev: bool = typer.Option(
        False, "--dev",
        help="Development: keys and API tokens from PARCOURS_HOME (.parcours) when the variables are unset; "
             "a 'dev' token with every scope is created in .parcours/api-tokens.",
    ),
    openapi: bool = typer.Option(
        False, "--openapi",
        help="Print the OpenAPI document (JSON) and exit: no server, no Temporal, no database, no secret.",
    ),
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs); tokens from PARCOURS_API_TOKENS.

    Refuses to start (exit 2) without PARCOURS_PERSON_ID_SECRET, PARCOURS_ENCRYPTION_KEYS and
    PARCOURS_API_TOKENS, unless --dev (or --openapi, which only prints the document)."""
    if openapi:
        from workers.api.catalogue import openapi_document

        typer.echo(openapi_document())
        return
    from workers.api.auth import DEV_TOKENS_FILE, load_api_tokens
    from workers.cli.common import secrets_or_exit
    from workers.runtime.config import Settings, check_person_id_secret
    from workers.runtime.keys import load_keyring
    from workers.runtime.logging import configure_logging

    configure_logging()
    settings = Settings.from_env()
    settings_dir = settings.home if dev else None
    loaders = {"keyring": lambda: load_keyring(settings_dir), "tokens": lambda: load_api_tokens(settings_dir)}
    if not dev:
        loaders["person_id_secret"] = check_person_id_secret
    loaded = secrets_or_exit("api", loaders)
    keyring, tokens = loaded["keyring"], loaded["tokens"]
    if not settings.database_url:
        typer.echo("DATABASE_URL is not set (the Idempotency-Key store is kept in PostgreSQL)", err=True)
        raise typer.Exit(2)
    if dev:
        typer.echo(f"API tokens: {settings.home / DEV_TOKENS_FILE}", err=True)
    asyncio.run(_serve(settings, keyring, tokens, host, port))


async def _serve(settings, keyring, tokens, host: str, port: int) -> None:
    import asyncpg
    import uvicorn
    from temporalio.client import Client

    from workers.api import create_app
    from workers.runtime.converter import data_converter

    client = await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, data_converter=data_converter(keyring)
    )
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=10)
    try:
        app = create_app(client, settings, pool, tokens=tokens)
        # Our own access line (route template, service, status) replaces uvicorn's, which logs raw paths.
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning",
                                               log_config=None))
        await server.serve()
    finally:
        await pool.close()
