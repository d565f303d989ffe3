"""The performance data set: many tenants of very different sizes, built once and kept.

The largest tenant holds `BIG_SHARE` of the calls; the others split the rest by a 1/rank law
(a few large, many small), every one over the same `days` of history. Each tenant has its own
region and time zone. The DuckDB file is kept under bench/data/ with a signature; a PostgreSQL
copy is loaded from it, so both engines hold exactly the same calls.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from recent_calls.demo import generate_calls
from recent_calls.ingest.bulk import import_lines
from recent_calls.storage import open_storage
from recent_calls.storage.columns import ROW_COLUMNS

END_MS = 1_764_806_400_000  # 2025-12-04T00:00:00Z, a Thursday; fixed: every run sees the same data
BIG_SHARE = 0.30
ZONES = (
    ("us", "America/New_York"),
    ("uk", "Europe/London"),
    ("us", "America/Los_Angeles"),
    ("us", "America/Chicago"),
    ("uk", "Europe/Dublin"),
    ("us", "Pacific/Auckland"),
)
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    calls: int
    region: str
    timezone: str


@dataclass(frozen=True)
class DataSet:
    calls: int = 10_000_000
    tenants: int = 100
    days: int = 730
    seed: int = 7

    def plan(self) -> list[Tenant]:
        """Every tenant, the largest first."""
        big = round(self.calls * BIG_SHARE)
        rest = self.calls - big
        if self.tenants < 2:
            return [Tenant("t000", self.calls, *ZONES[0])]
        weights = [1 / rank for rank in range(1, self.tenants)]
        sizes = [max(1, int(rest * weight / sum(weights))) for weight in weights]
        sizes[0] += rest - sum(sizes)  # rounding: the second largest takes the remainder
        plan = []
        for index, size in enumerate([big, *sizes]):
            region, timezone = ZONES[index % len(ZONES)]
            plan.append(Tenant(f"t{index:03d}", size, region, timezone))
        return plan

    @property
    def largest(self) -> Tenant:
        return self.plan()[0]

    @property
    def small(self) -> Tenant:
        """A small tenant: the one at the 90th place by size."""
        plan = self.plan()
        return plan[min(len(plan) - 1, (len(plan) * 9) // 10)]

    @property
    def signature(self) -> str:
        return json.dumps({**asdict(self), "end_ms": END_MS}, sort_keys=True)

    @property
    def duckdb_path(self) -> Path:
        return DATA / f"perf-{self.calls}-{self.tenants}-{self.days}-{self.seed}.duckdb"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _progress(what: str, number: int, total: int, started: float) -> None:
    if number % 10 == 0 or number in (1, total):
        log(f"{what}: {number}/{total} tenants in {time.perf_counter() - started:.0f} s")


def _signature_file(path: Path) -> Path:
    return path.with_suffix(".json")


def build_duckdb(dataset: DataSet) -> Path:
    """The data set's DuckDB file, generated and imported unless a complete one is kept."""
    path = dataset.duckdb_path
    marker = _signature_file(path)
    if path.exists() and marker.exists() and marker.read_text() == dataset.signature:
        log(f"data set: reusing {path}")
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    for stale in (path, Path(f"{path}.wal"), marker):
        stale.unlink(missing_ok=True)
    storage = open_storage(str(path))
    started = time.perf_counter()
    try:
        for number, tenant in enumerate(dataset.plan(), start=1):
            storage.create_tenant(tenant.tenant_id, tenant.region)
            calls = generate_calls(
                tenant.tenant_id,
                tenant.calls,
                seed=dataset.seed,
                end_ms=END_MS,
                days=dataset.days,
                timezone=tenant.timezone,
            )
            import_lines(storage, tenant.tenant_id, calls)
            _progress("data set", number, dataset.tenants, started)
        storage.compact()
    finally:
        storage.close()
    marker.write_text(dataset.signature)
    return path


def _duckdb_rows(path: Path, tenant_id: str, batch: int = 20_000) -> Iterator[list[Any]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        cursor = conn.execute(
            f"SELECT {', '.join(ROW_COLUMNS)} FROM calls WHERE tenant_id = $t", {"t": tenant_id}
        )
        while rows := cursor.fetchmany(batch):
            yield rows


def build_postgres(dataset: DataSet, server_url: str, source: Path) -> str:
    """A PostgreSQL database holding the same calls as `source`, kept between runs."""
    name = f"recent_calls_perf_{dataset.calls}_{dataset.tenants}_{dataset.days}_{dataset.seed}"
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            with psycopg.connect(url) as conn:
                kept = conn.execute(
                    "SELECT signature FROM bench_signature WHERE signature = %s",
                    (dataset.signature,),
                ).fetchone() if _has_signature_table(conn) else None  # fmt: skip
            if kept:
                log(f"data set: reusing PostgreSQL database {name}")
                return url
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    load_server(dataset, url, source, "PostgreSQL")
    return url


def load_server(dataset: DataSet, url: str, source: Path, what: str) -> None:
    """Copy every tenant of `source` (the DuckDB data set) into the server database at `url`,
    then sign it so that later runs reuse it."""
    storage = open_storage(url)
    started = time.perf_counter()
    try:
        for number, tenant in enumerate(dataset.plan(), start=1):
            storage.create_tenant(tenant.tenant_id, tenant.region)
            with storage.begin_import(tenant.tenant_id) as staged:
                for rows in _duckdb_rows(source, tenant.tenant_id):
                    staged.add(rows)
                staged.commit()
            _progress(f"data set ({what})", number, dataset.tenants, started)
        storage.compact()
    finally:
        storage.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_signature (signature text)")
        conn.execute("INSERT INTO bench_signature VALUES (%s)", (dataset.signature,))


def _has_signature_table(conn: psycopg.Connection[Any]) -> bool:
    found = conn.execute("SELECT to_regclass('bench_signature') IS NOT NULL").fetchone()
    return bool(found and found[0])
