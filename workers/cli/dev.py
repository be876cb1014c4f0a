"""``parcours dev``, ``parcours worker`` and ``parcours db migrate``."""

from __future__ import annotations

import asyncio

import typer

from workers.runtime.config import Settings

db_app = typer.Typer(help="Read-model database commands.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("dev")(dev)
    app.command("worker")(worker)
    app.add_typer(db_app, name="db")


def dev(
    reset: bool = typer.Option(False, "--reset", help="Wipe .parcours/ (Temporal history, database) first."),
    port: int = typer.Option(7233, "--port", help="Temporal gRPC port."),
    ui_port: int = typer.Option(8233, "--ui-port", help="Temporal Web UI port."),
    pg_port: int = typer.Option(55432, "--pg-port", help="Embedded PostgreSQL port."),
    codec_port: int = typer.Option(8081, "--codec-port", help="Codec server port (decodes payloads in the UI)."),
    metrics_port: int = typer.Option(9464, "--metrics-port", help="Prometheus endpoint of the worker."),
    api_port: int = typer.Option(8000, "--api-port", help="HTTP API port."),
    monjob_port: int = typer.Option(8062, "--monjob-port", help="Local MonJob62 simulator port."),
    demo: int = typer.Option(0, "--demo", help="Generate and import N synthetic households once ready."),
) -> None:
    """Run Temporal dev server + PostgreSQL + worker, embedded, until Ctrl-C."""
    from workers.dev.supervisor import DevOptions, run_dev
    from workers.runtime.logging import configure_logging

    configure_logging()
    raise typer.Exit(run_dev(Settings.from_env(), DevOptions(port=port, ui_port=ui_port, pg_port=pg_port, codec_port=codec_port,
                                                 metrics_port=metrics_port, reset=reset, demo=demo,
                                                 api_port=api_port, monjob_port=monjob_port)))


def worker(
    dev: bool = typer.Option(
        False, "--dev", help="Development: the keyring of PARCOURS_HOME (.parcours) when PARCOURS_ENCRYPTION_KEYS "
                             "is unset, and the built-in person-id secret is accepted.",
    ),
) -> None:
    """The production worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, DATABASE_URL).

    Refuses to start (exit 2) without PARCOURS_PERSON_ID_SECRET and PARCOURS_ENCRYPTION_KEYS, unless --dev."""
    from workers.cli.common import secrets_or_exit
    from workers.runtime.config import check_person_id_secret
    from workers.runtime.keys import load_keyring
    from workers.runtime.logging import configure_logging
    from workers.runtime.worker import run_worker

    settings = Settings.from_env()
    loaders = {"keyring": lambda: load_keyring(settings.home if dev else None)}
    if not dev:
        loaders["person_id_secret"] = check_person_id_secret
    keyring = secrets_or_exit("worker", loaders)["keyring"]
    configure_logging()
    asyncio.run(run_worker(settings, keyring=keyring))


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending SQL migrations to DATABASE_URL (safe to run twice)."""
    from workers.runtime.migrations import migrate

    settings = Settings.from_env()
    if not settings.database_url:
        typer.echo("DATABASE_URL is not set", err=True)
        raise typer.Exit(2)
    applied = asyncio.run(migrate(settings.database_url))
    typer.echo(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m.version:03d}_{m.name}" for m in applied))
