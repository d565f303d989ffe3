"""Load from a separate process: wrk, with a Lua script that rotates through request bodies.

wrk is a C load generator (Debian package `wrk`); it costs the machine far less than the server
it loads, so the figures are the server's. Each run is bounded in time (`duration_s`), and so in
count. (A count bound inside wrk would distort its figures: a thread that stops early leaves
wrk dividing by the whole duration. The script also defines no `response` callback, which would
copy every answer into Lua.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass
class Load:
    connections: int
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers, plus socket errors and timeouts

    @property
    def row(self) -> str:
        return (
            f"{self.connections} | {self.requests_per_s:,.1f} | {self.p50_ms:.1f} | "
            f"{self.p99_ms:.1f} | {self.errors}"
        )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: bench/perf installs it (apt-get install wrk)")
    return found


def _lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def _script(
    method: str, requests: Sequence[tuple[str, bytes | None]], headers: dict[str, str]
) -> str:
    entries = ",\n".join(
        "{" + _lua_string(path) + ", " + (_lua_string(body.decode()) if body else "nil") + "}"
        for path, body in requests
    )
    header_lines = "\n".join(
        f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()
    )
    return f"""
local requests = {{
{entries}
}}
local count = 0
wrk.method = "{method}"
{header_lines}
request = function()
  count = count + 1
  local entry = requests[(count % #requests) + 1]
  return wrk.format(nil, entry[1], nil, entry[2])
end
"""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str, connections: int) -> Load:
    def find(pattern: str, default: str = "0") -> str:
        match = re.search(pattern, output)
        return match.group(1) if match else default

    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(find(r"Non-2xx or 3xx responses: (\d+)"))
    if socket:
        errors += sum(int(group) for group in socket.groups())
    return Load(
        connections=connections,
        requests=int(find(r"(\d+) requests in")),
        seconds=_ms(find(r"requests in ([\d.]+(?:us|ms|s|m))", "0s")) / 1000,
        requests_per_s=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"\s50%\s+([\d.]+(?:us|ms|s|m))", "0ms")),
        p99_ms=_ms(find(r"\s99%\s+([\d.]+(?:us|ms|s|m))", "0ms")),
        errors=errors,
    )


def run_wrk(
    base_url: str,
    requests: Sequence[tuple[str, bytes | None]],
    *,
    connections: int,
    duration_s: int,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Load:
    """Drive `base_url` with `connections` open connections for `duration_s`, rotating through
    `requests` (path, body)."""
    threads = min(2, connections)
    all_headers = {"Content-Type": "application/json", **(headers or {})} if method == "POST" \
        else dict(headers or {})  # fmt: skip
    script = _script(method, requests, all_headers)
    with tempfile.TemporaryDirectory(prefix="recent-calls-wrk-") as folder:
        path = Path(folder) / "load.lua"
        path.write_text(script)
        done = subprocess.run(
            [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s",
             "--timeout", "60s", "--latency", "-s", str(path), base_url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    if done.stderr.strip():  # a script error: wrk would go on with plain GET / requests
        raise RuntimeError(f"wrk: {done.stderr.strip()}")
    return parse_wrk(done.stdout, connections)


def json_body(body: dict[str, object]) -> bytes:
    return orjson.dumps(body)
