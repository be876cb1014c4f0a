"""CNAF flow parser benchmark: households per second and peak RSS for generated files (not a test).

    .venv/bin/python bench/parser_bench.py [--sizes 10000 100000] [--keep DIR] [--rounds 3]

Each size is generated once (seeded, 2 % invalid records), then parsed and validated in a fresh child
process so its peak RSS (``ru_maxrss``) is the parser's alone. The child reads the file as the import's
survey does (``FluxSummary(keep_rejected=0)``: counts, no list of rejections). Flat memory shows as a
peak that barely moves when the file is ten times larger.

The same child then runs a bare ``lxml.etree.iterparse`` of the same file reading every element's text
(issue 20's reference; ``recover=True``, as the file holds bytes invalid in its encoding on purpose), and
the ratio of the two rates is printed (target ≥ 0.5). Both are CPU times (``time.process_time``) taken in
one process, best of ``--rounds`` runs of each, alternated (as issue 20 measured: the bare run alone varies by
±20 % from one run to the next on these machines), so that a busy moment slows one round of each alike.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from lxml import etree
from activities.cnaf_parser import CnafFluxReader
from domain.flux import FluxSummary
start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def read():
    summary = FluxSummary(keep_rejected=0)  # as FluxImporter.survey: counts only, the slices quarantine
    started, cpu = time.perf_counter(), time.process_time()
    for record in CnafFluxReader(sys.argv[1]):
        summary.add(record)
    return summary, time.perf_counter() - started, time.process_time() - cpu

def bare():
    cpu = time.process_time()
    for _, element in etree.iterparse(sys.argv[1], events=("end",), recover=True):  # past the invalid bytes
        element.text
        element.clear(keep_tail=True)
    return time.process_time() - cpu

summary, elapsed, cpu = read()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the reference runs below
cpus, bare_cpus = [cpu], [bare()]
for _ in range(int(sys.argv[2]) - 1):  # alternated, so that a busy moment slows one round of each
    cpus.append(read()[2])
    bare_cpus.append(bare())
print(json.dumps({"seconds": elapsed, "cpu": min(cpus), "bare_cpu": min(bare_cpus), "households": summary.households,
                  "rejected": summary.rejected_count, "rss_before_kib": start_rss, "peak_rss_kib": peak}))
"""


def measure(path: Path, rounds: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(rounds)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, help="directory to write the generated files to (kept)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="parser and bare iterparse runs, alternated; the ratio takes the best CPU time of each")
    args = parser.parse_args()

    from activities.flux_generator import generate_flux

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        print(f"{'households':>10} {'file MiB':>9} {'gen s':>6} {'parse s':>8} {'households/s':>13} "
              f"{'peak RSS MiB':>13} {'RSS at start MiB':>17}")
        rates: list[tuple[int, float, float]] = []
        for size in args.sizes:
            path = directory / f"flux_{size}.xml"
            started = time.perf_counter()
            report = generate_flux(path, households=size, seed=2024, flow_date=date(2024, 3, 15), invalid_share=0.02)
            generated = time.perf_counter() - started
            result = measure(path, args.rounds)
            total = result["households"] + result["rejected"]
            print(f"{total:>10} {report.bytes_written / 2**20:>9.1f} {generated:>6.1f} {result['seconds']:>8.2f} "
                  f"{total / result['seconds']:>13,.0f} {result['peak_rss_kib'] / 1024:>13.1f} "
                  f"{result['rss_before_kib'] / 1024:>17.1f}")
            rates.append((total, total / result["cpu"], total / result["bare_cpu"]))
        for total, parser_rate, bare_rate in rates:
            print(f"{total} households, CPU time (best of {args.rounds}): parser: {parser_rate:,.0f} households/s, "
                  f"bare iterparse: {bare_rate:,.0f}/s, ratio {parser_rate / bare_rate:.2f} (target ≥ 0.5)")
    print(f"(resource.ru_maxrss of the parsing process; Python {sys.version.split()[0]}, "
          f"{resource.getpagesize()} B pages)")


if __name__ == "__main__":
    main()
