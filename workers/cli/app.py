"""The ``parcours`` command line: one typer app, one module per command group (``workers/cli/<group>.py``)."""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup

from workers.cli import api as cli_api, core as cli_core, dev as cli_dev, keys as cli_keys

#: Command groups whose module is imported only when the group is used (or listed by ``--help``), in their order
#: in the help: ``parcours report kpi`` does not load temporalio, the CER grid or the flow parser.
LAZY_GROUPS = {
    "cer": "workers.cli.cer",
    "label": "workers.cli.label",
    "flux": "workers.cli.flux",
    "pathway": "workers.cli.pathway",
    "keys": "workers.cli.keys",
    "sim": "workers.cli.sim",
    "schedule": "workers.cli.schedule",
    "report": "workers.cli.report",
    "tasks": "workers.cli.tasks",
    "caseload": "workers.cli.caseload",
}


class LazyGroups(TyperGroup):
    """The root group: the commands registered on the app, then the groups of ``LAZY_GROUPS``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in LAZY_GROUPS if name not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_GROUPS and cmd_name not in self.commands:
            group = typer.main.get_group(importlib.import_module(LAZY_GROUPS[cmd_name]).app)
            group.name = cmd_name
            self.commands[cmd_name] = group
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    help="parcours-rsa: RSA pathways and Label référent RSA on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroups,
)

cli_core.register(app)
cli_dev.register(app)
cli_keys.register(app)  # parcours codec-server
cli_api.register(app)  # parcours api


def main() -> None:
    app()


if __name__ == "__main__":
    main()
