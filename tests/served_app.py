"""A FastAPI app served by uvicorn on a local port inside the test's event loop (the simulators' tests).

uvicorn is imported when serving, not at import: test modules defining workflows are re-imported in the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib


async def serve(app, port: int) -> tuple[object, asyncio.Task]:
    """Start serving ``app`` on 127.0.0.1:``port``; returns once it listens. Stop: ``server.should_exit = True``,
    then await the task."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # leave pytest's signal handlers alone
            yield

    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                    timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task
