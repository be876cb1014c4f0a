"""What the worker runs: every workflow class and every activity, wired with its dependencies.

Each feature adds its workflows to ``WORKFLOWS`` and its activities in ``build_activities``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import asyncpg


@dataclass
class Dependencies:
    """Connections injected into activity adapters (built once in the worker)."""

    pool: asyncpg.Pool | None = None


WORKFLOWS: list[type] = []


def build_activities(deps: Dependencies) -> list[Callable[..., Any]]:
    return []
