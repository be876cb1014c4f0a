"""`parcours pathway ...` sub-commands: staff commands on one pathway from the command line.

``parcours pathway reassign-territory PATHWAY_ID TERRITORY`` places a pathway in another territory (a
commune missing from the commune → territory table leaves it ``UNASSIGNED``, with a task for the SLAI
manager). It sends the pathway's ``reassign_territory`` update, recorded as an event of its history, and
prints ``{"pathway_id", "territory", "stage", "duplicate"}``. Exit 2 for an invalid argument, 1 when the
pathway refuses (same territory, closed) or cannot be reached; one line on stderr either way.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import NoReturn, Optional

import typer
from pydantic import ValidationError

from domain.pathway_contract import Update
from domain.territory import TerritoryReassignment
from workers.cli.common import OneLineErrors, connect_client, run_client_command
from workers.runtime.config import Settings

app = typer.Typer(help="Staff commands on one pathway.", no_args_is_help=True)

_PATHWAY_ID = re.compile(r"^pathway-[0-9a-f]{32}$")


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"parcours pathway: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


async def _reassign(settings: Settings, pathway_id: str, msg: TerritoryReassignment) -> dict:

    client = await connect_client(settings)
    result = await client.get_workflow_handle(pathway_id).execute_update(Update.REASSIGN_TERRITORY, msg)
    return result if isinstance(result, dict) else {"stage": str(result)}


@app.command("reassign-territory", cls=OneLineErrors)
def reassign_territory(
    pathway_id: str = typer.Argument(..., metavar="PATHWAY_ID", help="pathway-<32 hex>, as the API gives it."),
    territory: str = typer.Argument(..., metavar="TERRITORY", help="Territory code, e.g. ARRAGEOIS."),
    reason: str = typer.Option("", "--reason", help="Why (kept with the event; no personal data)."),
    event_id: Optional[str] = typer.Option(None, "--event-id", help="Idempotency: the same id applies once."),
) -> None:
    """Place a pathway in another territory (recorded as an event of its history)."""
    if not _PATHWAY_ID.match(pathway_id):
        _fail("PATHWAY_ID must look like pathway-<32 hexadecimal characters>", 2)
    try:
        msg = TerritoryReassignment(event_id=event_id or f"cli-{uuid.uuid4().hex}", territory=territory.upper(),
                                    reason=reason)
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}", 2)

    try:
        result = run_client_command(_reassign(Settings.from_env(), pathway_id, msg))
    except Exception as exc:  # noqa: BLE001 - refused by the pathway, no such pathway, server down: one line
        cause = getattr(exc, "cause", None)
        message = getattr(cause, "message", None) or getattr(exc, "message", None) or str(exc) or type(exc).__name__
        _fail(f"{pathway_id}: {message}", 1)
    typer.echo(json.dumps({"pathway_id": pathway_id, "territory": msg.territory,
                           "stage": result.get("stage"), "duplicate": bool(result.get("duplicate", False))}))
