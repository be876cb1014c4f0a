"""What the ``parcours`` command groups share: one-line usage errors and failures, startup secrets, the rule set in
force, JSON input, a read-model pool for one call, the Temporal client, staging a file in the drop directory and
following a flow import. Command modules import these from here, never from one another."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Awaitable, Callable, NoReturn, TypeVar

import typer
from typer.core import TyperCommand

from activities.cnaf_parser import file_digest
from activities.drop_files import discard_imported, make_private, private_dir, write_private_copy
from domain.deadlines import paris_date
from domain.flux_import import FluxImportInput, FluxImportProgress, FluxImportResult, SliceProgress
from domain.rules import RuleSet, rule_set_for
from workers.runtime.config import Settings

USAGE_ERROR = 2
T = TypeVar("T")
# typer >= 0.2x vendors its own click; find the usage-error class through a public export either way.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def fail(message: str) -> NoReturn:
    """Exit code 2 with exactly one line on stderr."""
    typer.echo(" ".join(message.split()), err=True)
    raise typer.Exit(USAGE_ERROR)


class OneLineErrors(TyperCommand):
    """Report usage errors as one line on stderr (exit 2) instead of click's usage block or rich panel.

    Staff and scripts read the command's answer; a bad call must be as easy to parse as a good one.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _UsageError as error:
            fail(f"{ctx.command_path}: {error.format_message()}")


def secrets_or_exit(command: str, loaders: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """The secrets a service needs, or exit 2 naming every missing or unsafe variable (nothing is started)."""
    from workers.runtime.config import load_startup_secrets

    values, problems = load_startup_secrets(loaders)
    if problems:
        typer.echo(f"parcours {command}: cannot start: " + "; ".join(problems), err=True)
        raise typer.Exit(USAGE_ERROR)
    return values


def rules_in_force() -> RuleSet:
    """The rule set in force today (Paris): the grid an evaluator scores with now."""
    return rule_set_for(paris_date(datetime.now(timezone.utc)))


def read_json_input(source: str) -> Any:
    """Decode JSON from a file path or ``-`` (stdin); raise ``ValueError`` with a one-line reason."""
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except OSError as error:
        raise ValueError(f"{source}: cannot read file ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{source}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def on_read_model(command: str, action: Callable[[Any], Awaitable[T]], failure_code: int, what: str) -> T:
    """Run ``action(pool)`` over DATABASE_URL, one pool for the call; database trouble is one line on stderr and
    ``failure_code``, no traceback. ``command`` names the command in messages (``parcours label x``)."""
    settings = Settings.from_env()
    if not settings.database_url:
        fail(f"{command}: DATABASE_URL is not set ({what})")

    async def go() -> T:
        import asyncpg

        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
        try:
            return await action(pool)
        finally:
            await pool.close()

    try:
        return asyncio.run(go())
    except (OSError, asyncio.TimeoutError) as exc:
        message = f"cannot reach the database: {exc}"
    except Exception as exc:  # asyncpg errors: missing tables (migrations not applied), permissions…
        if not type(exc).__module__.startswith("asyncpg"):
            raise
        message = f"database error: {exc} (run `parcours db migrate`?)"
    typer.echo(" ".join(f"{command}: {message}".split()), err=True)
    raise typer.Exit(failure_code)


def stage_file(path: Path, drop_dir: Path, digest: str) -> Path:
    """The copy of ``path`` the worker reads: the file itself when already in the drop directory, else a
    copy written under a temporary name then renamed (the daily scan skips ``*.part`` files); mode 0600 either
    way, and removed once imported (``activities.drop_files``)."""
    private_dir(drop_dir)
    if path.resolve().parent == drop_dir:
        make_private(path.resolve())
        return path.resolve()
    target = drop_dir / path.name
    if target.exists() and file_digest(target) != digest:
        target = drop_dir / f"{digest[:12]}-{path.name}"
    if not target.exists():
        write_private_copy(path, target)
    return target


def run_client_command(coro):
    """``asyncio.run`` for a command using a Temporal client, then a short pause before the process exits.

    With temporalio 1.35 on Python 3.11, a process exiting right after its client was dropped crashes
    about one time in four (SIGSEGV or "PyGILState_Release ... finalizing": the SDK's Rust threads still
    run while the interpreter finalizes). Collecting the client and pausing 0.1 s lets them finish.
    """
    try:
        return asyncio.run(coro)
    finally:
        gc.collect()
        time.sleep(0.1)


async def connect_client(settings: Settings):
    """A Temporal client with the project's encrypted data converter: PARCOURS_ENCRYPTION_KEYS, else the keys of
    an existing ``parcours dev`` home; never a key invented here, which no worker could read."""
    from temporalio.client import Client

    from workers.runtime.converter import data_converter
    from workers.runtime.keys import DEV_KEYS_FILE, load_keyring

    dev_home = settings.home if (settings.home / DEV_KEYS_FILE).exists() else None
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=data_converter(load_keyring(dev_home)))


async def run_import(
    settings: Settings,
    inp: FluxImportInput,
    *,
    wait: bool = True,
    on_progress: Callable[[int, int | None], None] | None = None,
    poll_seconds: float = 0.5,
) -> tuple[str, FluxImportResult | None]:
    """Start (or join) the import workflow; with ``wait``, poll its progress until it returns its result."""
    from workflows.flux_import import FluxImport, start_flux_import

    client = await connect_client(settings)
    handle = await start_flux_import(client, inp, task_queue=settings.temporal_task_queue)
    if not wait:
        return handle.id, None
    result_task = asyncio.ensure_future(handle.result())
    while not result_task.done():
        if on_progress is not None:
            try:
                progress = await handle.query(FluxImport.progress)
                on_progress(await position_done(client, handle, progress), progress.total)
            except Exception:  # noqa: BLE001 - no worker yet, or the workflow just closed: progress is best-effort
                pass
        await asyncio.wait([result_task], timeout=poll_seconds)
    result = result_task.result()
    if inp.remove_when_imported:  # imported earlier (the workflow was already done): this copy is not needed
        discard_imported(inp.file_path, inp.file_digest)
    return handle.id, result if isinstance(result, FluxImportResult) else FluxImportResult.model_validate(result)


async def position_done(client, handle, progress: FluxImportProgress) -> int:
    """Positions done: completed slices (query), or the running slice's last heartbeat if further."""
    done = progress.done
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        payloads = list(pending.heartbeat_details.payloads)
        if not payloads:
            continue
        details = (await client.data_converter.decode(payloads))[0]
        if isinstance(details, dict) and "position" in details:
            done = max(done, SliceProgress.model_validate(details).position)
    return done


