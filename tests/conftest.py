"""Fixtures: a real database file, and the real HTTP server on a loopback port."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import httpx
import pytest
import uvicorn

from recent_calls.app import create_app
from recent_calls.clock import Clock
from recent_calls.credentials import IssuedCredential, issue
from recent_calls.imports import import_lines
from recent_calls.server import HEAD_TIMEOUT_S, head_limited_protocol
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.pg import fresh_database, migrated_template

# A 500 is a failure everywhere (tests/unhandled.py).
pytest_plugins = ["tests.unhandled"]

# 2024-03-13T16:00:00Z, a Wednesday: just after the US DST change, before Europe's.
FROZEN_NOW = "1710345600000"


ENGINES = ["duckdb", "postgres"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test that touches a database runs once per storage engine."""
    engine_name: str = request.param
    return engine_name


@contextmanager
def empty_database(engine: str, folder: Any, name: str) -> Iterator[str]:
    """An empty database: a DuckDB file `name` in `folder`, or a fresh PostgreSQL database."""
    if engine == "duckdb":
        yield str(folder / f"{name}.duckdb")
    else:
        with fresh_database(template=migrated_template()) as url:
            yield url


@pytest.fixture
def database(engine: str, tmp_path: Any) -> Iterator[str]:
    """The test's database, of the engine the test runs on."""
    with empty_database(engine, tmp_path, "calls") as url:
        yield url


@pytest.fixture
def other_database(engine: str, tmp_path: Any) -> Iterator[str]:
    """A second empty database of the same engine, for tests with two sides (sync, mirrors)."""
    with empty_database(engine, tmp_path, "other") as url:
        yield url


@pytest.fixture
def duckdb_path(tmp_path: Any) -> str:
    """For what only the embedded engine has (the control file, the single-writer lock)."""
    return str(tmp_path / "calls.duckdb")


@pytest.fixture
def storage(database: str) -> Iterator[Storage]:
    store = open_storage(database)
    yield store
    store.close()


@dataclass
class LiveServer:
    url: str
    storage: Storage
    http: httpx.Client

    def tenant(
        self, tenant_id: str, region: str = "us", calls: list[dict[str, Any]] | None = None
    ) -> IssuedCredential:
        """Create a tenant with `calls` and return a credential for it."""
        return add_tenant(self.storage, tenant_id, region, calls or [])

    def post(
        self,
        body: Any,
        credential: IssuedCredential | None = None,
        region: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a recentCallData request as `credential`'s owner."""
        headers = kwargs.pop("headers", {})
        if credential is not None:
            headers = {"8x8-apikey": credential.api_key, "token": credential.token, **headers}
            region = region or credential.region
        path = f"/customerexperience/v1/recentCallData/{region or 'us'}"
        if "content" in kwargs:
            return self.http.post(path, headers=headers, **kwargs)
        return self.http.post(path, headers=headers, json=body, **kwargs)


def add_tenant(
    storage: Storage, tenant_id: str, region: str, calls: list[dict[str, Any]]
) -> IssuedCredential:
    storage.create_tenant(tenant_id, region)
    if calls:
        import_lines(storage, tenant_id, calls)
    return issue(storage, tenant_id, region)


@contextmanager
def serving(
    settings: Settings,
    storage: Storage,
    clock: Clock | None = None,
    head_timeout_s: float = HEAD_TIMEOUT_S,
) -> Iterator[str]:
    """Run the real app under uvicorn on a free loopback port in a thread; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, storage=storage, clock=clock),
        log_level="warning",
        lifespan="on",
        http=head_limited_protocol(head_timeout_s),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


ServerFactory = Callable[..., LiveServer]


@pytest.fixture
def make_server(storage: Storage, database: str) -> Iterator[ServerFactory]:
    """Start a live server over the test database; keyword arguments become Settings."""
    stack = ExitStack()

    def start(clock: Clock | None = None, **overrides: Any) -> LiveServer:
        settings = Settings(database=database, **{"now": FROZEN_NOW, **overrides})
        url = stack.enter_context(serving(settings, storage, clock))
        http = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        return LiveServer(url, storage, http)

    with stack:
        yield start


@pytest.fixture
def server(make_server: ServerFactory) -> LiveServer:
    return make_server()


class InProcessHTTP:
    """The app called in process through httpx.ASGITransport, with httpx.Client's calls.

    For the API tests that are not about the socket: no server thread, no port, the same app.
    Each call runs on an AsyncClient in an anyio portal thread.
    """

    def __init__(self, app: Any) -> None:
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        call = functools.partial(self._client.request, method, url, **kwargs)
        return self._portal.call(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._portal_cm.__exit__(None, None, None)


@pytest.fixture
def api(storage: Storage, database: str) -> Iterator[LiveServer]:
    """The app over the test database, called in process (no socket)."""
    settings = Settings(database=database, now=FROZEN_NOW)
    http = InProcessHTTP(create_app(settings, storage=storage))
    yield LiveServer("http://testserver", storage, http)  # type: ignore[arg-type]
    http.close()
