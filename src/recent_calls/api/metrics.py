"""/metrics: the server's figures in the Prometheus text format (prometheus-client).

One registry per app, so that two apps in one process (tests, replicas in one host process)
never share counts. What it holds:

- `recent_calls_requests_total{method, route, status}` and the latency histogram
  `recent_calls_request_duration_seconds{method, route}`: every HTTP request, observed by the
  request pipeline (api/pipeline.py) when its answer ends. `route` is the route's template
  (`/customerexperience/{version}/recentCallData/{region}`), or `unmatched`, so a scan of
  random paths cannot grow the series without bound.
- `recent_calls_rate_limited_total`: requests refused by the rate limiter (429).
- `recent_calls_pushed_calls_total` and `recent_calls_imported_calls_total`: calls stored by
  the push endpoint and by imports through the admin API; `..._batches_total` count the batches.
- `recent_calls_pool_connections{state}`: PostgreSQL's pool (`size`, `available`, `waiting`),
  or, on DuckDB, `size` as the open cursors (one per worker thread) of the embedded database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _PoolCollector(Collector):
    def __init__(self, parts: Callable[[], Any]) -> None:
        self.parts = parts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        parts = self.parts()
        if parts is None:  # the app's storage opens with its lifespan
            return
        family = GaugeMetricFamily(
            "recent_calls_pool_connections",
            "Database connections (PostgreSQL pool) or cursors (DuckDB) by state.",
            labels=["engine", "state"],
        )
        storage = parts.storage
        for state, value in storage.pool_stats().items():
            family.add_metric([storage.engine, state], float(value))
        yield family


class Metrics:
    """The app's metrics (see the module docstring)."""

    def __init__(self, parts: Callable[[], Any] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "recent_calls_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recent_calls_request_duration_seconds",
            "Time from a request's start to its answer's last byte.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "recent_calls_rate_limited", "Requests refused by the rate limiter.",
            registry=self.registry,
        )  # fmt: skip
        self.pushed = Counter(
            "recent_calls_pushed_calls", "Calls stored by the push endpoint.",
            registry=self.registry,
        )  # fmt: skip
        self.push_batches = Counter(
            "recent_calls_push_batches", "Batches stored by the push endpoint.",
            registry=self.registry,
        )  # fmt: skip
        self.imported = Counter(
            "recent_calls_imported_calls", "Calls stored by imports through the admin API.",
            registry=self.registry,
        )  # fmt: skip
        self.import_batches = Counter(
            "recent_calls_import_batches", "Imports through the admin API that stored calls.",
            registry=self.registry,
        )  # fmt: skip
        if parts is not None:
            self.registry.register(_PoolCollector(parts))

    def observe(self, scope: Any, status: int, seconds: float, rate_limited: bool) -> None:
        """One finished HTTP request (called by the request pipeline)."""
        route = scope.get("route")
        template = str(getattr(route, "path", "")) or "unmatched"
        method = str(scope.get("method", ""))[:10]
        self.requests.labels(method, template, str(status)).inc()
        self.latency.labels(method, template).observe(seconds)
        if rate_limited:
            self.rate_limited.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
