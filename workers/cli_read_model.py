"""One way for a CLI command to answer from the PostgreSQL read model (``DATABASE_URL``): a pool for the call,
database trouble as one line on stderr and a command-specific exit code, no traceback."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

import typer

from workers.cli_cer import fail
from workers.config import Settings

T = TypeVar("T")


def on_read_model(command: str, action: Callable[[Any], Awaitable[T]], failure_code: int, what: str) -> T:
    """Run ``action(pool)`` over DATABASE_URL; ``command`` names the command in messages (``parcours label x``)."""
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
