"""The performance suite's own logic: the data set's shape, the load script wrk runs, and the
reading of wrk's report."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from bench.common import (
    cpu_ticks,
    latency_verdict,
    postgres_cpu_s,
    proc_stat,
    time_side_by_side,
)
from bench.dataset import DataSet
from bench.loadgen import _script, parse_wrk, wrk_binary
from tests.pg import postgres_server

WRK_OUTPUT = """Running 15s test @ http://127.0.0.1:41234
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    18.27ms    4.02ms  61.50ms   80.12%
    Req/Sec   219.10     25.33   270.00     70.00%
  Latency Distribution
     50%   17.52ms
     75%   20.01ms
     90%   23.12ms
     99%    1.20s
  6570 requests in 15.01s, 101.23MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:    437.71
Transfer/sec:      6.74MB
"""


def test_wrk_reports_are_read_with_their_units_and_every_error() -> None:
    load = parse_wrk(WRK_OUTPUT, connections=8)
    assert (load.requests, load.requests_per_s) == (6570, 437.71)
    assert (load.p50_ms, load.p99_ms, load.seconds) == (17.52, 1200.0, 15.01)
    assert load.errors == 7


def test_a_clean_wrk_report_has_no_errors() -> None:
    clean = WRK_OUTPUT.replace("  Socket errors: connect 0, read 1, write 0, timeout 2\n", "")
    clean = clean.replace("  Non-2xx or 3xx responses: 4\n", "")
    assert parse_wrk(clean, connections=8).errors == 0


def test_the_load_script_rotates_bodies_and_sets_headers() -> None:
    script = _script("POST", [("/a", b'{"x": 1}'), ("/b", None)], {"token": "t"})
    assert "response" not in script  # no callback copying every answer into Lua
    assert '{[====[/a]====], [====[{"x": 1}]====]}' in script
    assert "{[====[/b]====], nil}" in script
    assert "wrk.headers[ [====[token]====] ] = [====[t]====]" in script


def test_the_data_set_splits_calls_as_planned() -> None:
    dataset = DataSet(calls=10_000_000, tenants=100)
    plan = dataset.plan()
    assert len(plan) == 100 and len({t.tenant_id for t in plan}) == 100
    assert sum(t.calls for t in plan) == 10_000_000
    assert plan[0].calls == 3_000_000 and plan[0] == dataset.largest
    assert all(t.calls >= 1 for t in plan)
    assert [t.calls for t in plan[1:]] == sorted((t.calls for t in plan[1:]), reverse=True)
    assert dataset.small.calls < 20_000
    assert {t.region for t in plan} == {"us", "uk"}


def test_the_load_script_is_valid_lua_that_wrk_runs() -> None:
    """wrk reports a script error on stderr and then sends plain GET / requests: catch that."""
    script = _script("POST", [("/p", b'{"a": "]]"}')], {"Content-Type": "application/json"})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "load.lua"
        path.write_text(script)
        done = subprocess.run(
            [wrk_binary(), "-t1", "-c1", "-d1s", "-s", str(path), "http://127.0.0.1:9/"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    assert ".lua" not in done.stderr, done.stderr  # no "load.lua:7: unexpected symbol"


@pytest.mark.parametrize(
    ("raw", "service", "met"),
    [
        ({"small": 0.2}, {"small": 1.2}, True),  # 6x, but 1 ms over: the fast shape's rule
        ({"small": 0.2}, {"small": 1.3}, False),
        ({"small": 1.9, "big": 10.0}, {"small": 2.8, "big": 15.0}, True),
        ({"small": 1.9, "big": 10.0}, {"small": 2.8, "big": 15.1}, False),
        ({"big": 2.0}, {"big": 3.1}, False),  # 2 ms is not under 2: the ratio holds it
    ],
)
def test_the_latency_target_holds_fast_shapes_to_1_ms_and_the_rest_to_1_5x(
    raw: dict[str, float], service: dict[str, float], met: bool
) -> None:
    measured, verdict = latency_verdict(raw, service)
    assert verdict is met
    assert all(name in measured for name in raw)


def test_the_servers_cpu_counts_a_backend_that_has_exited() -> None:
    """bench.imports reports PostgreSQL's CPU beside the command's: a backend's time must still
    be counted once its connection has closed (through its postmaster's children's time)."""
    with psycopg.connect(postgres_server(), autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        if not proc_stat(pid):
            pytest.skip("the PostgreSQL server of this run is not on this machine")
        before = postgres_cpu_s()
        assert before is not None
        conn.execute("SELECT count(*) FROM generate_series(1, 3000000)")
        used = cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")
    assert used > 0.05  # the statement kept its backend busy: there is something to count
    for _ in range(100):  # the backend exits a moment after its connection closes
        if not proc_stat(pid):
            break
        time.sleep(0.05)
    after = postgres_cpu_s()
    assert after is not None
    assert after - before >= used - 0.02  # within the clock's tick


def test_raw_and_service_take_turns_in_blocks() -> None:
    """`time_side_by_side` runs the two sides in blocks, the side that goes first alternating,
    each block after one untimed run, and times `runs` of each after the warm-up turns; it
    hands back the last answer: here against a real HTTP server on loopback that notes each
    request it answers."""
    order: list[str] = []

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            order.append("service")
            body = json.dumps({"hits": len(order)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        credential = {"apiKey": "k", "token": "t", "region": "us"}
        raws, services, answer = time_side_by_side(
            lambda: order.append("raw"),
            f"http://127.0.0.1:{server.server_address[1]}",
            credential,
            {"tenantId": "x"},
            runs=3,
            warmup=1,
            block=2,
        )
    finally:
        server.shutdown()
        server.server_close()
    warm = ["raw", "service"]
    first = ["raw"] * 3 + ["service"] * 3  # a block of 2: one untimed run, then two timed
    second = ["service"] * 2 + ["raw"] * 2  # the last block holds the one run left
    assert order == warm + first + second
    assert len(raws) == len(services) == 3 and min(raws + services) >= 0
    assert answer == {"hits": len(warm + first) + 2}
