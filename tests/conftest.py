"""Fixtures: a real database file, and the real HTTP server on a loopback port.

Only fixtures live here; what tests share besides them is in tests/support.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from recent_calls.api.app import create_app
from recent_calls.client.transport import tls_context
from recent_calls.clock import Clock
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage
from tests.pg import fresh_database, migrated_template
from tests.support import (
    ENGINES,
    FROZEN_NOW,
    InProcessHTTP,
    LiveServer,
    ServerFactory,
    serving,
)

# A 500 is a failure everywhere (tests/unhandled.py).
pytest_plugins = ["tests.unhandled", "tests.endpoints"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "embedded_only: what the test checks does not depend on the storage engine (the HTTP "
        "edge, the logs), so it runs on the embedded one alone",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test that touches a database runs once per storage engine, unless marked
    `embedded_only`."""
    if "engine" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if "engine" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return  # the test chooses its engines itself
    one = metafunc.definition.get_closest_marker("embedded_only") is not None
    metafunc.parametrize("engine", ENGINES[:1] if one else ENGINES, indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The storage engine of the test's database (see pytest_generate_tests)."""
    engine_name: str = request.param
    return engine_name


@pytest.fixture
def empty_database(engine: str, tmp_path: Any) -> Callable[[str], AbstractContextManager[str]]:
    """Makes empty databases: a DuckDB file `name` in the test's folder, or a fresh PostgreSQL
    database."""

    @contextmanager
    def make(name: str) -> Iterator[str]:
        if engine == "duckdb":
            yield str(tmp_path / f"{name}.duckdb")
        else:
            with fresh_database(template=migrated_template()) as url:
                yield url

    return make


@pytest.fixture
def database(empty_database: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    """The test's database, of the engine the test runs on."""
    with empty_database("calls") as url:
        yield url


@pytest.fixture
def other_database(
    empty_database: Callable[[str], AbstractContextManager[str]],
) -> Iterator[str]:
    """A second empty database of the same engine, for tests with two sides (sync, mirrors)."""
    with empty_database("other") as url:
        yield url


@pytest.fixture
def duckdb_path(tmp_path: Any) -> str:
    """For what only the embedded engine has (the control file, the single-writer lock)."""
    return str(tmp_path / "calls.duckdb")


@pytest.fixture(scope="session")
def duckdb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded database with the schema applied, made once per test process: a test's
    storage starts as a copy of it, as fast as a file copy (migrating each costs 50 ms)."""
    path = tmp_path_factory.mktemp("template") / "migrated.duckdb"
    open_storage(str(path)).close()
    return path


@pytest.fixture
def storage(database: str, engine: str, duckdb_template: Path) -> Iterator[Storage]:
    if engine == "duckdb" and not os.path.exists(database):
        shutil.copyfile(duckdb_template, database)
    store = open_storage(database)
    yield store
    store.close()


@pytest.fixture
def make_server(storage: Storage, database: str) -> Iterator[ServerFactory]:
    """Start a live server over the test database; keyword arguments become Settings."""
    stack = ExitStack()

    def start(clock: Clock | None = None, **overrides: Any) -> LiveServer:
        settings = Settings(database=database, **{"now": FROZEN_NOW, **overrides})
        url = stack.enter_context(serving(settings, storage, clock))
        http = stack.enter_context(httpx.Client(verify=tls_context(), base_url=url, timeout=30))
        return LiveServer(url, storage, http)

    with stack:
        yield start


@pytest.fixture
def server(make_server: ServerFactory) -> LiveServer:
    return make_server()


@pytest.fixture
def api(storage: Storage, database: str) -> Iterator[LiveServer]:
    """The app over the test database, called in process (no socket)."""
    settings = Settings(database=database, now=FROZEN_NOW)
    http = InProcessHTTP(create_app(settings, storage=storage))
    yield LiveServer("http://testserver", storage, http)  # type: ignore[arg-type]
    http.close()


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """A umask that lets everyone read new files, as on many machines."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
