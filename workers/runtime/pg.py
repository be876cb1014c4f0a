"""PostgreSQL pools for the small HTTP services (codec server, MonJob62 simulator)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, Callable

import asyncpg


def pool_lifespan(pool: asyncpg.Pool | None, database_url: str | None, bind: Callable[[asyncpg.Pool], Any]):
    """A FastAPI lifespan: ``bind`` the given open ``pool`` (tests) at once, or open one on ``database_url``
    at startup, ``bind`` it, and close it at shutdown."""
    if pool is not None:
        bind(pool)

    @asynccontextmanager
    async def lifespan(_app):
        if pool is not None:
            yield
            return
        own_pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
        bind(own_pool)
        try:
            yield
        finally:
            await own_pool.close()

    return lifespan
