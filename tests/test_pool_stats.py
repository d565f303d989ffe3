"""Storage.pool_stats: the figures /metrics reports about connections, on both engines."""

from __future__ import annotations

import threading

from recent_calls.storage.base import Storage


def test_pool_stats_count_the_connections_in_use(storage: Storage) -> None:
    before = storage.pool_stats()
    assert set(before) >= {"size"}
    if storage.engine == "duckdb":
        # One cursor per thread that read: a new thread's read adds one.
        thread = threading.Thread(target=storage.count_calls, args=("",))
        thread.start()
        thread.join()
        assert storage.pool_stats()["size"] == before["size"] + 1
    else:
        assert set(before) == {"size", "available", "waiting"}
        assert before["size"] >= 1
        assert before["waiting"] == 0
        assert 0 <= before["available"] <= before["size"]
