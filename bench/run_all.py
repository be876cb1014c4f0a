"""Run every benchmark, one process each, and print (and optionally save) what they print (not a test).

    .venv/bin/python -m bench.run_all [--large] [--only NAME ...] [--args NAME="ARGS" ...] [--out FILE]

Default sizes take about 30 minutes on an idle 2-core machine (the four daily-flow benchmarks of issue 17
at reduced sizes: about 15 of them); ``--large`` runs bigger sizes, the issue's full sizes for those four
(several hours: tens of thousands of pathways are started at 30–50/s). ``--args NAME="..."`` replaces one
benchmark's arguments (e.g. ``--args daily="--pathways 5000 --update 1000"``). ``make bench`` runs the
default sizes; ``make bench BENCH_ARGS='--only daily storm'`` a selection. Each section starts with the load average of the machine:
other processes (developers' test runs) slow every figure down, the ratios less than the rates.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.common import machine

#: name -> (module, default arguments, --large arguments)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "baseline": ("bench.baseline", ["--count", "2000"], ["--count", "5000"]),
    "onboarding": ("bench.onboarding_bench", ["--households", "2000", "--baseline-count", "1000"],
                   ["--households", "10000", "--baseline-count", "3000"]),
    "parser": ("bench.parser_bench", ["--sizes", "10000", "100000"], ["--sizes", "10000", "100000", "1000000"]),
    "kpi": ("bench.kpi_bench", ["--sizes", "100000", "1000000"], ["--sizes", "100000", "1000000", "2000000"]),
    "history": ("bench.history_bench", ["--cycles", "10"], ["--cycles", "10", "--pathways", "3", "--replays", "10"]),
    "caseload": ("bench.caseload_bench", ["--cases", "2000", "--baseline-count", "1000"],
                 ["--cases", "10000", "--baseline-count", "3000"]),
    "memory": ("bench.memory_bench", ["--pathways", "10000", "--caches", "10000"],
               ["--pathways", "20000", "--caches", "1000", "20000"]),
    # Issue 17: the default sizes are reduced (about 4 minutes each idle); --large runs the sizes.
    "daily": ("bench.daily_update_bench", ["--pathways", "3000", "--update", "1000", "--baseline-count", "500"],
              ["--pathways", "20000", "--update", "2000"]),
    "storm": ("bench.storm_bench", ["--pathways", "2000", "--baseline-count", "500"], ["--pathways", "10000"]),
    "many_open": ("bench.many_open_bench", ["--pathways", "5000", "--update", "1000", "--baseline-count", "500"],
                  ["--pathways", "50000", "--update", "2000"]),
    "two_workers": ("bench.two_workers_bench", ["--pathways", "3000", "--update", "1000", "--baseline-count", "500"],
                    ["--pathways", "20000", "--update", "2000"]),
}


def run(name: str, large: bool, out, override: list[str] | None = None) -> int:
    module, default, bigger = BENCHES[name]
    args = [sys.executable, "-m", module, *(override if override is not None else bigger if large else default)]
    header = (f"== {name}: {' '.join(args[1:])}  [{datetime.now().isoformat(timespec='seconds')}, "
              f"load avg {os.getloadavg()[0]:.2f}]")
    emit(header, out)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=Path(__file__).resolve().parent.parent)
    for line in process.stdout:
        if "WARN" in line and "temporalio_sdk_core" in line:
            continue  # the SDK core's notices about the test server's capabilities
        emit(line.rstrip("\n"), out)
    code = process.wait()
    emit(f"-- {name}: exit {code}, {time.perf_counter() - started:.0f} s, load avg {os.getloadavg()[0]:.2f}", out)
    return code


def emit(line: str, out) -> None:
    print(line, flush=True)
    if out is not None:
        out.write(line + "\n")
        out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="bigger sizes: the full sizes of issue 17 for the daily-flow benchmarks (hours)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="run only these benchmarks")
    parser.add_argument("--args", nargs="+", default=[], metavar='NAME="ARGS"',
                        help="replace a benchmark's arguments, e.g. daily=\"--pathways 5000\"")
    parser.add_argument("--out", type=Path, help="also write the output to this file")
    args = parser.parse_args()
    overrides = {}
    for item in args.args:
        name, _, value = item.partition("=")
        if name not in BENCHES:
            parser.error(f"--args: unknown benchmark {name!r} (one of {', '.join(BENCHES)})")
        overrides[name] = shlex.split(value)
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    try:
        emit(f"# parcours-rsa benchmarks {'(large)' if args.large else ''} — {machine()} — "
             f"{datetime.now().isoformat(timespec='seconds')}", out)
        started = time.perf_counter()
        failed = [name for name in (args.only or BENCHES) if run(name, args.large, out, overrides.get(name)) != 0]
        emit(f"# done in {(time.perf_counter() - started) / 60:.1f} min"
             + (f"; FAILED: {', '.join(failed)}" if failed else ""), out)
    finally:
        if out is not None:
            out.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
