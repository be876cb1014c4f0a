"""The ``parcours`` command line: one typer app, sub-commands grouped by topic in ``cli_*`` modules."""

from __future__ import annotations

import typer

from workers import cli_cer, cli_core, cli_dev, cli_flux, cli_label
from workers import cli_keys
from workers import cli_sim
from workers import cli_api
from workers import cli_schedule
from workers import cli_report

app = typer.Typer(
    help="parcours-rsa: RSA pathways and Label référent RSA on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

cli_core.register(app)
cli_dev.register(app)
app.add_typer(cli_cer.app, name="cer")
app.add_typer(cli_label.app, name="label")
app.add_typer(cli_flux.app, name="flux")
app.add_typer(cli_keys.app, name="keys")
cli_keys.register(app)  # parcours codec-server
app.add_typer(cli_sim.app, name="sim")
app.add_typer(cli_schedule.app, name="schedule")
cli_api.register(app)  # parcours api
app.add_typer(cli_report.app, name="report")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
