"""storage/citus.py: distribute leaves no copy of placed rows in the coordinator's own tables.

The test that needs a Citus cluster is collected only on one (scripts/test-citus); the report's
wording is checked everywhere.
"""

from __future__ import annotations

import psycopg

from recent_calls.storage import open_storage
from recent_calls.storage.citus import DistributeReport, distribute
from tests.calls import make_call, rows_of
from tests.pg import citus_mode, fresh_database

START = 1700000000000


def test_the_report_names_each_table_whose_local_copy_was_removed() -> None:
    report = DistributeReport("13.2-1", 2, distributed=["calls"], emptied=["calls"])
    assert report.lines() == [
        "distributed calls by tenant_id",
        "removed the coordinator's local copy of calls (its rows are on the nodes now)",
    ]


if citus_mode():

    def test_distribute_after_loading_leaves_no_rows_in_the_coordinator_postgres() -> None:
        with fresh_database() as url:
            store = open_storage(url)
            try:
                store.create_tenant("acme", "us")
                store.upsert_calls("acme", rows_of(make_call("a", START), make_call("b", START)))
            finally:
                store.close()
            report = distribute(url)
            assert {"calls", "tenants"} <= set(report.emptied)
            with psycopg.connect(url) as conn:
                # The shell table's own heap: empty once the local copy is gone.
                local = conn.execute("SELECT pg_relation_size('calls'::regclass, 'main')")
                assert local.fetchone() == (0,)
            store = open_storage(url)
            try:
                assert store.count_calls("acme") == 2
            finally:
                store.close()
