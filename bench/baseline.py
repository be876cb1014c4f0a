"""Baseline: no-op workflow completions per second on the dev server with one worker.

    .venv/bin/python -m bench.baseline [--count N]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import dev_server, machine
from bench.stack import baseline_line, measured_baseline


async def main(count: int) -> None:
    async with dev_server() as client:
        rate, _ = await measured_baseline(client, count, warmup=200)
    print(f"machine: {machine()}")
    print(baseline_line(count, rate))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    asyncio.run(main(parser.parse_args().count))
