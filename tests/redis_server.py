"""A Redis server for the tests that share rate limits between replicas.

The first of these that can be had, once per test session:

1. the URL in RECENT_CALLS_TEST_REDIS, when it is set (one that does not answer is an error);
2. the machine's Redis at 127.0.0.1:6379;
3. a throwaway `redis-server` on a free loopback port, keeping nothing on disk, stopped when the
   test process exits.

With none of them the tests that need Redis fail, naming what to install.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import time

import redis

from tests.support import free_port

ENV = "RECENT_CALLS_TEST_REDIS"
LOCAL_SERVER = "redis://127.0.0.1:6379/0"


class NoRedis(RuntimeError):
    """No Redis server could be found or started for the tests."""


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@functools.cache
def redis_url() -> str:
    explicit = os.environ.get(ENV, "").strip()
    if explicit:
        if not _answers(explicit):
            raise NoRedis(f"{ENV}={explicit!r} does not answer")
        return explicit
    if _answers(LOCAL_SERVER):
        return LOCAL_SERVER
    binary = shutil.which("redis-server")
    if binary is None:
        raise NoRedis(
            f"no Redis for the tests: nothing answers at {LOCAL_SERVER} and there is no "
            f"redis-server to start (install it, e.g. `apt-get install redis-server`, or set {ENV})"
        )
    port = free_port()
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([binary, *arguments], stdout=subprocess.DEVNULL)
    atexit.register(process.terminate)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if time.monotonic() > deadline or process.poll() is not None:
            raise NoRedis(f"a throwaway redis-server on port {port} did not start")
        time.sleep(0.05)
    return url
