"""``parcours sim ...``: local simulators of the external systems, for development and tests."""

from __future__ import annotations

import asyncio

import typer

from workers.runtime.config import Settings

app = typer.Typer(help="Local simulators of external systems (development and tests only).", no_args_is_help=True)


@app.command("monjob")
def monjob(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (keep it local: no authentication)."),
    port: int = typer.Option(8062, "--port", help="HTTP port."),
) -> None:
    """Run the MonJob62 simulator (DATABASE_URL: where it stores what it receives; migrations applied first)."""
    import uvicorn

    from workers.runtime.migrations import migrate
    from workers.dev.monjob_sim import create_app

    settings = Settings.from_env()
    if not settings.database_url:
        typer.echo("DATABASE_URL is not set", err=True)
        raise typer.Exit(2)
    asyncio.run(migrate(settings.database_url))
    typer.echo(f"MonJob62 simulator on http://{host}:{port}", err=True)
    uvicorn.run(create_app(database_url=settings.database_url), host=host, port=port, log_level="warning")


@app.command("france-travail")
def france_travail(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (keep it local: no authentication)."),
    port: int = typer.Option(8063, "--port", help="HTTP port."),
) -> None:
    """Run the France Travail registration simulator (in memory; seed with POST /_control/registrations)."""
    import uvicorn

    from workers.dev.france_travail_sim import create_app

    typer.echo(f"France Travail simulator on http://{host}:{port}", err=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
