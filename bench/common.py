"""What the benchmarks share: our server in its own process, timing, percentiles."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from bench.launch import stop, wait_healthy
from recent_calls.admin.credentials import issue
from recent_calls.storage.base import Storage

PATH = "/customerexperience/v1/recentCallData/{region}"

# The targets of the performance issue, which bench.run measures and bench.perf reports too.
MAX_RATIO = 1.5  # service p50 / raw engine p50, every shape the engine answers in FAST_MS or more
FAST_MS = 2.0  # a shape the engine answers faster than this is held to MAX_EXTRA_MS instead
MAX_EXTRA_MS = 1.0  # service p50 - raw engine p50, for those shapes
MIN_IMPORT_PER_S = {"duckdb": 100_000, "postgres": 50_000}
MIN_THROUGHPUT_SHARE = 0.6  # service req/s at 8 connections / engine q/s at 8 threads
MAX_RSS_GROWTH_MB = 20.0
MAX_HITS_MS = 20.0  # exact hits of the big tenant's whole history (the target is PostgreSQL's)

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM), in MB."""
        return _status_kb(self.process.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        """The resident memory of the server and every process under it (its workers), in MB."""
        return tree_rss_mb(self.process.pid)


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:  # the process has just ended
        pass
    return 0


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_ticks(pid: int) -> int:
    """The user and system time process `pid` has used, in clock ticks (0 once it is gone)."""
    fields = proc_stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def postgres_cpu_s() -> float | None:
    """CPU seconds every PostgreSQL server on this machine has used so far, from /proc: each
    postmaster's own time, that of its children that have exited, and that of those running.
    None when no server process can be read here (a server on another machine). The difference
    of two readings is what the servers used in between, backends that came and went included.
    """
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name == "postgres" and (fields := proc_stat(int(entry.name))):
            stats[int(entry.name)] = fields
    if not stats:
        return None
    ticks = 0
    for fields in stats.values():
        ticks += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in stats:  # a postmaster: its exited children's time too
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> set[int]:
    """Every process under `root` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := proc_stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def tree_rss_mb(root: int) -> float:
    """Resident memory (VmRSS) summed over `root` and its descendants, in MB."""
    return sum(_status_kb(pid, "VmRSS") for pid in (root, *descendants(root))) / 1024


@contextmanager
def serve(
    database: str, now_ms: int, log: Path | None = None, workers: int = 1, **env: str
) -> Iterator[Served]:
    """`recent-calls serve` on `database` in its own process (`--workers`: that many API
    processes under it), clock frozen at `now_ms`, rate limits off (a load test is not an abuse
    to throttle); its logs go to `log`."""
    environment = {
        **os.environ,
        "RECENT_CALLS_NOW": str(now_ms),
        "RECENT_CALLS_RATE_LIMIT_PER_S": "0",
        **env,
    }
    command = [sys.executable, "-m", "recent_calls", "serve", "--database", database]
    with open(log or os.devnull, "w") as errors:
        process = subprocess.Popen(
            [*command, "--port", "0", "--log-level", "warning", "--workers", str(workers)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=environment,
        )
        try:
            assert process.stdout is not None
            url = ""
            for line in process.stdout:
                if line.startswith("Listening on "):
                    url = line.split()[-1]
                    break
            if not url:
                raise RuntimeError(f"the server did not start; see {log}")
            wait_healthy(url)
            yield Served(url, process)
        finally:
            stop(process, timeout=120)


@contextmanager
def serve_granian(
    database: str, now_ms: int, workers: int, log: Path | None = None
) -> Iterator[str]:
    """The same app under granian (bench/granian_app.py) with `workers` processes, configured
    as `serve` configures ours; yields its URL once /healthz answers."""
    port = free_port()
    environment = {
        **os.environ,
        "RECENT_CALLS_DATABASE": database,
        "RECENT_CALLS_NOW": str(now_ms),
        "RECENT_CALLS_RATE_LIMIT_PER_S": "0",
    }
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
               "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "bench.granian_app:app"]  # fmt: skip
    with open(log or os.devnull, "w") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment, cwd=ROOT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                wait_healthy(url)
            except RuntimeError:
                raise RuntimeError(f"granian did not start; see {log}") from None
            yield url
        finally:
            stop(process, timeout=120)


@contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A new database `name` on the server (replacing a leftover one), dropped afterwards."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(drop)


def free_port() -> int:
    """A loopback port nothing listens on (free when asked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


LATENCY_TARGET = (
    f"service p50 within {MAX_RATIO}x of the raw engine's, every shape (within "
    f"{MAX_EXTRA_MS:.0f} ms of it where the engine takes under {FAST_MS:.0f} ms)"
)


def latency_verdict(raw_ms: dict[str, float], service_ms: dict[str, float]) -> tuple[str, bool]:
    """The latency target over every shape's raw and service p50 (ms): a shape the engine
    answers in under FAST_MS is held to MAX_EXTRA_MS more than it, the others to MAX_RATIO
    times it. The measured text names the worst shape of each kind."""
    fast = {name for name, raw in raw_ms.items() if raw < FAST_MS}
    parts, met = [], True
    if fast:
        extra = {name: service_ms[name] - raw_ms[name] for name in fast}
        worst = max(extra, key=lambda name: extra[name])
        parts.append(f"worst +{extra[worst]:.1f} ms over {raw_ms[worst]:.1f} ms ({worst})")
        met = extra[worst] <= MAX_EXTRA_MS
    slow = set(raw_ms) - fast
    if slow:
        ratios = {name: service_ms[name] / raw_ms[name] for name in slow}
        worst = max(ratios, key=lambda name: ratios[name])
        parts.append(f"worst {ratios[worst]:.2f}x ({worst})")
        met = met and ratios[worst] <= MAX_RATIO
    return "; ".join(parts), met


SERVICE_TIMING = (
    "*service* is the whole HTTP request on loopback (parsing, validation, credentials, query, "
    "rendering), from its first byte sent to the answer's last byte read, on one kept-alive "
    "connection of Python's `http.client` with the body encoded beforehand (httpx, used before "
    "0.7.2, added about 0.4 ms of its own to each request)."
)
"""How `time_requests` times a request, for the reports."""

TAKING_TURNS = (
    "The two take turns in blocks of five, each block after one untimed request, so that both "
    "sides of a ratio are measured over the same minutes on a machine whose speed drifts."
)
"""How `time_side_by_side` orders the two sides, for the reports."""


def bench_credential(storage: Storage, tenant_id: str, region: str) -> dict[str, str]:
    """A new credential of `tenant_id` for a benchmark's requests: its text fields (tenantId,
    region, apiKey, token; not its scopes)."""
    issued = issue(storage, tenant_id, region, label="bench").as_json()
    return {name: value for name, value in issued.items() if isinstance(value, str)}


class Poster:
    """POSTs of one body on one kept-alive connection of `http.client`, each timed as
    SERVICE_TIMING says: the raw engine beside it is timed with no HTTP client at all (GET
    /healthz, p50 1.65-1.73 ms with httpx, 1.19-1.35 ms with `http.client`)."""

    def __init__(self, url: str, credential: dict[str, str], body: dict[str, Any]) -> None:
        parts = urlsplit(url)
        self.headers = {
            "8x8-apikey": credential["apiKey"],
            "token": credential["token"],
            "Content-Type": "application/json",
        }
        self.path = PATH.format(region=credential["region"])
        self.payload = json.dumps(body).encode()
        self.answer = b""
        host = parts.hostname or "127.0.0.1"
        self.connection = http.client.HTTPConnection(host, parts.port, timeout=300)

    def __call__(self) -> float:
        """One request: ms from its first byte sent to the answer's last byte read."""
        started = time.perf_counter()
        self.connection.request("POST", self.path, body=self.payload, headers=self.headers)
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"POST {self.path} answered {response.status}: {answer[:500]!r}")
        self.answer = answer
        return elapsed * 1000

    def close(self) -> None:
        self.connection.close()


def time_requests(
    url: str, credential: dict[str, str], body: dict[str, Any], runs: int, warmup: int = 2
) -> tuple[list[float], dict[str, Any]]:
    """`runs` sequential POSTs of `body` (ms each, after `warmup` untimed ones, `Poster`); the
    last answer."""
    post = Poster(url, credential, body)
    try:
        timings = [post() for _ in range(runs + warmup)][warmup:]
    finally:
        post.close()
    return timings, json.loads(post.answer)


def time_side_by_side(
    raw: Callable[[], None],
    url: str,
    credential: dict[str, str],
    body: dict[str, Any],
    runs: int,
    warmup: int = 2,
    block: int = 5,
) -> tuple[list[float], list[float], dict[str, Any]]:
    """`raw` (the engine's statements for `body`, in process) and the POST of `body` (`Poster`)
    taking turns in blocks of `block` timed runs each, `runs` of each after `warmup` untimed
    turns, the side that goes first alternating from block to block: on a machine whose speed
    drifts (a shared one's moved twofold within minutes), both sides of a ratio are measured
    over the same minutes. Each block starts with one untimed run, as the other side has just
    had the processor's caches (turns request by request measured both sides slower, the
    service the more). Their ms, and the last answer."""
    post = Poster(url, credential, body)

    def timed_raw() -> float:
        started = time.perf_counter()
        raw()
        return (time.perf_counter() - started) * 1000

    raws: list[float] = []
    services: list[float] = []
    try:
        for _ in range(warmup):
            timed_raw()
            post()
        sides: list[tuple[Callable[[], float], list[float]]] = [(timed_raw, raws), (post, services)]
        while len(raws) < runs:
            count = min(block, runs - len(raws))
            for side, timings in sides:
                side()  # untimed: the other side ran last
                timings.extend(side() for _ in range(count))
            sides.reverse()
    finally:
        post.close()
    return raws, services, json.loads(post.answer)
