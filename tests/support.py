"""What the tests share besides fixtures: the frozen clock, live servers, call sets, clients.

Test modules import helpers from here (fixtures live in conftest.py, which imports from here
too); nothing here imports a test module or the benchmarks.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx
import uvicorn

from bench import launch
from recent_calls.admin.credentials import IssuedCredential, issue
from recent_calls.api.app import create_app
from recent_calls.api.protocol import HEAD_TIMEOUT_S
from recent_calls.cli.serve import uvicorn_options
from recent_calls.client import RecentCallsClient
from recent_calls.client.transport import tls_context
from recent_calls.clock import Clock
from recent_calls.ingest.bulk import import_lines
from recent_calls.settings import Settings
from recent_calls.storage.base import Storage
from tests.calls import make_call

# 2024-03-13T16:00:00Z, a Wednesday: just after the US DST change, before Europe's.
FROZEN_NOW = "1710345600000"


# The frozen clock of servers run in their own process (2025-12-01T00:00:00Z).
NOW_MS = 1_764_547_200_000

ENGINES = ["duckdb", "postgres"]


def free_port() -> int:
    """A loopback TCP port nothing listened on when asked (for servers that need one given)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


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


class PromptServer(uvicorn.Server):
    """uvicorn's server, stopping within milliseconds: it notices that it should every 5 ms
    instead of 100 ms, and its shutdown waits for its connections and tasks to end instead of
    first sleeping 0.1 s. The suite starts and stops hundreds of them. What `recent-calls
    serve` does on SIGTERM is tested on the real command (tests/test_server.py)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        deadline = time.monotonic() + 10
        while (state.connections or state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        for task in state.tasks:
            task.cancel()
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            for _ in range(20):
                await asyncio.sleep(0.005)
                if self.should_exit:
                    return
            counter = (counter + 1) % 864_000


LOOPBACK = httpx.Client(
    verify=tls_context(), timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
)
"""For one-off requests to the servers tests start: one client (a client of its own makes a TLS
context, some 30 ms), keeping no connection between requests (the servers come and go)."""


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
        **uvicorn_options(settings, head_timeout_s),
    )
    server = PromptServer(config)
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


class ServerProcess(launch.ServerProcess):
    """`recent-calls serve` in its own process with the clock frozen at NOW_MS."""

    def __init__(self, database: str, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(database, log_path, {"RECENT_CALLS_NOW": str(NOW_MS), **(env or {})})


NOW = int(FROZEN_NOW)
NAMES = ("Ömer Yılmaz", "Pat Caller", "ACME CO", "Straße Ltd")


def varied_calls(count: int = 40, tenant: str = "acme") -> list[dict[str, Any]]:
    """Calls 45 minutes apart before the frozen now, each field varied so filters tell apart."""
    calls = []
    for i in range(count):
        calls.append(
            make_call(
                f"{tenant}-{i:03d}",
                NOW - (i + 1) * 2_700_000,
                callerName=NAMES[i % 4],
                callerNumber=f"73255{i:05d}",
                agentId=["agA", "agB", "agA,agC", "agC"][i % 4],
                queueId="100,101" if i % 5 == 0 else str(100 + i % 3),
                agentGroup=str(10 + i % 2),
                dialedNumber=f"1800555000{i % 2}",
                agentHoldCount=i % 4,
                agentMuteCount=i % 3,
                transferCount=f"{i % 5}.0",
                callDuration=str(i * 7_500),
                waitTime=f"{i * 1000 + 500}.0",
                timeInIVR=f"{(i % 7) * 4000}.0",
                agentCallHandlingDuration=f"{i * 60_000}.0",
                holdDuration=f"{(i % 6) * 10_000}.0",
                muteDuration=i * 3,
                transactionId="7 8" if i % 3 == 0 else str(i),
                postCallSurvey='[{"question": 1, "score": 5}]' if i % 2 else "[]",
                voiceComment='{"file": "v.wav"}' if i % 3 == 1 else "{}",
            )
        )
    return calls


def connect(server: LiveServer, credential: IssuedCredential, **options: Any) -> RecentCallsClient:
    return RecentCallsClient(
        server.url,
        api_key=credential.api_key,
        token=credential.token,
        region=credential.region,
        **options,
    )


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


@dataclass
class Served:
    url: str
    database: str
    banner: list[str]
    process: subprocess.Popen[str]


@contextmanager
def serve_demo(database: str, demo: bool = True, *extra: str) -> Iterator[Served]:
    """`recent-calls serve [--demo]` in its own process, on a free loopback port."""
    env = {**os.environ, "RECENT_CALLS_NOW": FROZEN_NOW}
    command = [sys.executable, "-m", "recent_calls", "serve"]
    if demo:
        command += ["--demo", "--demo-calls", "300"]
    process = subprocess.Popen(
        [*command, "--port", "0", "--database", database, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        url = ""
        for line in process.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("Listening on "):
                url = line.split()[-1]
            # Two demo tenants, each with a read and a push credential and a curl for each.
            if len([b for b in banner if "curl " in b]) == 4 or (url and not demo):
                break
        assert url, "\n".join(banner)
        launch.wait_healthy(url)
        yield Served(url, database, banner, process)
    finally:
        launch.stop(process, timeout=20)


# -- processes, from /proc ---------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    # The fields after the command name, which sits in parentheses and may hold spaces.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    """The parent of process `pid`; 0 once it is gone."""
    try:
        return int(_stat(pid)[1])
    except (OSError, IndexError):
        return 0


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie has ended; only its exit status is left)."""
    try:
        return _stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            children.setdefault(parent_of(int(entry.name)), []).append(int(entry.name))
    return children


def children_of(pid: int) -> set[int]:
    """The processes whose parent is `pid`."""
    return set(_children().get(pid, []))


def descendants(root: int) -> set[int]:
    """Every process under `root`: its children, theirs, and so on."""
    children = _children()
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def mode_of(path: Path | str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def mount_tmpfs(where: Path, size: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Mount (or with "remount", resize) a tmpfs of `size` at `where`: a disk that fills."""
    opts = ",".join((*options, f"size={size}"))
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )


def run_capped(args: list[str], *, memory_bytes: int = 4 << 30, timeout_s: float = 60) -> Any:
    """`python -m recent_calls ARGS` in its own process with its address space capped, so a
    command that reads without bound fails by itself instead of taking the machine's memory."""
    import resource

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run(
        [sys.executable, "-m", "recent_calls", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        preexec_fn=cap,
        check=False,
    )
