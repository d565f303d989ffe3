"""Benchmark: the pure Asterisk reader on the demo's calls written as a queue_log and Master.csv.

    python -m bench.telephony                  # 1M calls (about 5M queue_log lines)
    python -m bench.telephony --calls 200000   # a quicker look
    python -m bench.telephony --import         # the whole `recent-calls import` into DuckDB

The files are written once into bench/data/ by the demo writer (`recent_calls.demo.telephony`);
each run then times reading them into calls in the import shape (Master.csv joined), in one
process and without a database, and prints calls/s. The whole import's target is 50,000
calls/s into DuckDB: the command reads the queue_log in a process of its own while it indexes
Master.csv, and checks the calls in worker processes (`ingest/asterisk_parallel.py`), so on
more than one core it is faster than the reader alone.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from recent_calls.demo import generate_calls
from recent_calls.demo.telephony import write_asterisk
from recent_calls.ingest.asterisk import read_asterisk
from recent_calls.ingest.sources import SourceReport

from .common import cpu_ticks, descendants
from .imports import END_MS, TENANT, cli, create_tenant

DATA = Path(__file__).parent / "data"
ZONE = "America/New_York"


def data_files(calls: int) -> tuple[Path, Path]:
    """The queue_log and Master.csv of `calls` demo calls over 20 days, written once and kept."""
    queue_log = DATA / f"queue_log-{calls}"
    master = DATA / f"Master-{calls}.csv"
    if not (queue_log.exists() and master.exists()):
        DATA.mkdir(exist_ok=True)
        print(f"writing {calls} calls into {queue_log} and {master} ...", file=sys.stderr)
        partial_log, partial_cdr = queue_log.with_suffix(".partial"), master.with_suffix(".part")
        with partial_log.open("w") as log_out, partial_cdr.open("w") as cdr_out:
            generated = generate_calls(
                TENANT, calls, seed=11, end_ms=END_MS, days=20, timezone=ZONE
            )
            write_asterisk(generated, log_out, cdr_out, timezone=ZONE)
        partial_log.rename(queue_log)
        partial_cdr.rename(master)
    return queue_log, master


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """A file's numbered lines, as an importer would hand them to the reader."""
    with path.open(encoding="utf-8", errors="surrogateescape") as source:
        yield from enumerate(source, start=1)


def time_read(queue_log: Path, master: Path) -> tuple[float, float, int, SourceReport]:
    """Seconds on the clock and of CPU to read every call of the files, and the call count."""
    report = SourceReport()
    gc.disable()  # as the import does: the reader's objects form no cycles
    try:
        started, cpu = time.perf_counter(), time.process_time()
        count = 0
        for _ in read_asterisk(
            lines(queue_log),
            server="pbx1",
            cdr=lines(master),
            timezone=ZONE,
            report=report,
            typed=True,  # as the import reads: tuples, not dicts
        ):
            count += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        gc.enable()
    return elapsed, cpu, count, report


def time_import(queue_log: Path, master: Path) -> tuple[float, float, str]:
    """The whole `recent-calls import --format asterisk` command into a new DuckDB file (its
    tenant made first): seconds on the clock and of CPU (the command and its workers, sampled
    from /proc: on a shared machine the clock counts other work too), and its report line."""
    with tempfile.TemporaryDirectory(prefix="bench-telephony-") as folder:
        database = str(Path(folder) / "calls.duckdb")
        create_tenant(database, TENANT)
        command = cli(
            "import", "--database", database, "--tenant", TENANT, "--format", "asterisk",
            str(queue_log), "--cdr", str(master), "--timezone", ZONE, "--server", "pbx1",
        )  # fmt: skip
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
            ticks: dict[int, int] = {}
            while True:
                for pid in (process.pid, *descendants(process.pid)):
                    ticks[pid] = max(ticks.get(pid, 0), cpu_ticks(pid))
                try:
                    process.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    continue
            elapsed = time.perf_counter() - started
            stdout.seek(0)
            stderr.seek(0)
            output, errors = stdout.read().decode(), stderr.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"import failed: {errors[-2000:]}")
    return elapsed, sum(ticks.values()) / os.sysconf("SC_CLK_TCK"), output.strip()


def main() -> None:
    """Write the files if needed, read them `--runs` times, print the best rate."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--import", dest="whole", action="store_true", help="time the whole import command"
    )
    args = parser.parse_args()
    queue_log, master = data_files(args.calls)
    if args.whole:
        best = best_cpu = float("inf")
        for _ in range(args.runs):
            elapsed, cpu, summary = time_import(queue_log, master)
            assert summary.startswith(f"imported {args.calls} calls"), summary
            best, best_cpu = min(best, elapsed), min(best_cpu, cpu)
            print(f"  {summary}\n  in {elapsed:.1f} s ({cpu:.1f} s CPU)", file=sys.stderr)
        print(
            f"recent-calls import --format asterisk: {args.calls / best:,.0f} calls/s on the "
            f"clock, {args.calls / best_cpu:,.0f} calls/s of CPU (best of {args.runs})"
        )
        return
    size = sum(1 for _ in lines(queue_log))
    print(f"{args.calls} calls, {size} queue_log lines", file=sys.stderr)
    best = best_cpu = float("inf")
    for _ in range(args.runs):
        elapsed, cpu, count, report = time_read(queue_log, master)
        assert count == args.calls and report.invalid == 0 and report.open_calls == 0, report
        best, best_cpu = min(best, elapsed), min(best_cpu, cpu)
        print(
            f"  read in {elapsed:.2f} s ({cpu:.2f} s CPU): {count / elapsed:,.0f} calls/s",
            file=sys.stderr,
        )
    # On a shared machine the clock counts other work too: the CPU figure is the reader's own.
    print(
        f"asterisk reader: {args.calls / best:,.0f} calls/s on the clock, "
        f"{args.calls / best_cpu:,.0f} calls/s of CPU (best of {args.runs})"
    )


if __name__ == "__main__":
    main()
