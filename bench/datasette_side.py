"""datasette beside us: the same calls in SQLite, served through datasette's JSON API.

datasette lives in its own virtual environment under bench/data/ (pinned in
bench/datasette-requirements.txt), not in the project's dependencies. The SQLite file holds
every call of the data set with the columns our API returns (list columns as comma-joined
text) and an index on (tenant_id, start_ms), the index our time-window queries use.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx

from bench.launch import stop

from .common import free_port
from .dataset import DATA, DataSet, log

REQUIREMENTS = Path(__file__).resolve().parent / "datasette-requirements.txt"
ENV = DATA / "datasette-venv"
COLUMNS = (
    "tenant_id", "call_id", "start_ms", "call_duration", "agent_handling", "time_in_ivr",
    "hold_duration", "max_hold", "wait_time", "abandon_time", "transfer_count", "mute_duration",
    "queue_ids", "agent_ids", "agent_groups", "transaction_id", "caller_name", "caller_number",
    "caller_name_key", "caller_number_key", "dialed_number", "schedule_hours", "call_type",
    "call_sub_type", "hungup_by", "post_call_survey", "voice_comment", "total_score",
    "destination_number", "voice_comment_file_names", "caller_phone_number",
)  # fmt: skip
_LISTS = {"queue_ids", "agent_ids", "agent_groups"}


def ensure_datasette() -> Path:
    """The datasette executable of the bench's own environment, installed on first use."""
    binary = ENV / "bin" / "datasette"
    stamp = ENV / ".installed"
    if not binary.exists() or not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        log(f"installing datasette into {ENV} ...")
        venv.create(ENV, with_pip=True, clear=True)
        subprocess.run(
            [str(ENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r",
             str(REQUIREMENTS)],
            check=True,
        )  # fmt: skip
        stamp.write_text(REQUIREMENTS.read_text())
    return binary


def build_sqlite(dataset: DataSet, source: Path) -> Path:
    """The data set's calls in a SQLite file, made from the DuckDB file once and kept."""
    target = source.with_suffix(".sqlite")
    marker = target.with_suffix(".sqlite.done")
    if target.exists() and marker.exists() and marker.read_text() == dataset.signature:
        log(f"datasette side: reusing {target}")
        return target
    target.unlink(missing_ok=True)
    partial = target.with_suffix(".sqlite.partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    selected = ", ".join(
        f"array_to_string({name}, ',') AS {name}" if name in _LISTS else name for name in COLUMNS
    )
    with duckdb.connect(str(source), read_only=True) as duck, sqlite3.connect(partial) as lite:
        lite.execute("PRAGMA journal_mode = OFF")
        lite.execute("PRAGMA synchronous = OFF")
        lite.execute(f"CREATE TABLE calls ({', '.join(COLUMNS)}, PRIMARY KEY (tenant_id, call_id))")
        cursor = duck.execute(f"SELECT {selected} FROM calls ORDER BY tenant_id, start_ms")
        insert = f"INSERT INTO calls VALUES ({', '.join('?' * len(COLUMNS))})"
        while rows := cursor.fetchmany(50_000):
            lite.executemany(insert, rows)
        lite.execute("CREATE INDEX calls_by_start ON calls (tenant_id, start_ms)")
        lite.commit()
        lite.execute("ANALYZE")
    partial.rename(target)
    marker.write_text(dataset.signature)
    log(f"datasette side: SQLite file built in {time.perf_counter() - started:.0f} s")
    return target


@contextmanager
def serve_datasette(database: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """datasette serving `database` immutably (it may then count rows once and cache)."""
    binary = ensure_datasette()
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "serve", "--immutable", str(database), "--host", "127.0.0.1",
         "--port", str(port), "--setting", "sql_time_limit_ms", "60000",
         "--setting", "max_returned_rows", "5000", "--setting", "default_page_size", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/-/versions.json", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("datasette did not start")
        time.sleep(0.2)
    try:
        yield url, process
    finally:
        stop(process)


def version() -> str:
    binary = ensure_datasette()
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip() or sys.version
