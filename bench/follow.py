"""Benchmark: how soon a call `recent-calls follow` stores is queryable after its final line.

    python -m bench.follow                  # 200 calls, into an embedded database held by serve
    python -m bench.follow --calls 50       # a quicker look

A server holds a new DuckDB file; the follower stores through it (as it does in production
with an embedded database). The demo's queue_log lines are written call by call, as Asterisk
appends them; for each call the clock starts when its final line is written and stops when the
API's count of calls includes it. Prints the p50, p95 and worst latency (target: p95 under 2 s).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from recent_calls.demo import generate_calls
from recent_calls.demo.telephony import write_asterisk
from recent_calls.ingest.asterisk import ENDS_VISIT

from .imports import END_MS
from .launch import ServerProcess, stop

TENANT = "followco01"


def calls_as_lines(count: int) -> list[list[str]]:
    """The queue_log lines of each demo call that reaches a queue, the final line last."""
    out = io.StringIO()
    generated = generate_calls(TENANT, count, seed=3, end_ms=END_MS, days=1, timezone="UTC")
    write_asterisk(generated, out, None)
    by_call: dict[str, list[str]] = {}
    for line in out.getvalue().splitlines(keepends=True):
        by_call.setdefault(line.split("|")[1], []).append(line)
    return [lines for lines in by_call.values() if lines[-1].split("|")[4] in ENDS_VISIT]


def main() -> None:
    """Start a server and a follower, write calls one by one, print the latency figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.2, help="the follower's --interval")
    args = parser.parse_args()
    calls = calls_as_lines(args.calls * 2)[: args.calls]
    folder = Path(tempfile.mkdtemp(prefix="bench-follow-"))
    database, queue_log = str(folder / "calls.duckdb"), folder / "queue_log"
    queue_log.touch()
    # The bench polls every 5 ms, past a credential's default rate limit: off for the bench.
    server = ServerProcess(
        database, folder / "serve.log", {"RECENT_CALLS_RATE_LIMIT_PER_S": "0"}
    ).start()
    base = [sys.executable, "-m", "recent_calls"]
    follower = None
    try:
        create = ["tenant", "create", TENANT, "--region", "us", "--json", "--database", database]
        created = subprocess.run(
            [*base, *create],
            capture_output=True,
            check=True,
        )
        issued = orjson.loads(created.stdout)
        headers = {"8x8-apikey": issued["apiKey"], "token": issued["token"]}
        url = f"{server.url}/customerexperience/v1/recentCallData/us"
        body = {"tenantId": TENANT, "page": 1, "rows": 1, "duration": "allhistory"}
        follow = ["follow", "--tenant", TENANT, "--server", "pbx1", "--database", database]
        follower = subprocess.Popen(
            [*base, *follow, "--interval", str(args.interval), str(queue_log)],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "follow.log").open("w"),
        )
        latencies = []
        with httpx.Client(timeout=10) as http, queue_log.open("a") as log:

            def hits() -> int:
                return int(http.post(url, json=body, headers=headers).json()["hits"])

            for number, lines in enumerate(calls, start=1):
                log.write("".join(lines[:-1]))
                log.flush()
                time.sleep(0.05)  # the call's earlier lines come a while before its end
                log.write(lines[-1])
                log.flush()
                started = time.perf_counter()
                while hits() < number:
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - started)
        latencies.sort()
        p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
        print(
            f"{len(latencies)} calls: final line to queryable p50 "
            f"{statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"worst {latencies[-1] * 1000:.0f} ms (follower --interval {args.interval})"
        )
    finally:
        if follower is not None:
            stop(follower)
        server.stop()


if __name__ == "__main__":
    main()
