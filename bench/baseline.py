"""Baseline: no-op workflow completions per second on the dev server with one worker.

    .venv/bin/python -m bench.baseline [--count N]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import baseline, dev_server, machine


async def main(count: int) -> None:
    async with dev_server() as client:
        await baseline(client, min(200, count))  # warm-up
        rate = await baseline(client, count)
    print(f"machine: {machine()}")
    print(f"baseline: {count} no-op workflows (1 activity each): {rate:.1f} completions/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    asyncio.run(main(parser.parse_args().count))
