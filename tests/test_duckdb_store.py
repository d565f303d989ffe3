"""storage/duckdb_store.py: the embedded engine's files."""

from __future__ import annotations

from pathlib import Path

from recent_calls.storage import open_storage
from tests.calls import make_call, rows_of
from tests.support import mode_of


def test_the_duckdb_file_and_its_wal_are_created_0600(tmp_path: Path, wide_umask: None) -> None:
    path = tmp_path / "calls.duckdb"
    storage = open_storage(str(path))
    try:
        storage.create_tenant("acme", "us")
        storage.upsert_calls("acme", rows_of(make_call("c1", 1710000000000)))
        wal = Path(f"{path}.wal")
        assert mode_of(path) == 0o600
        assert wal.exists() and mode_of(wal) == 0o600
    finally:
        storage.close()


def test_an_existing_wider_duckdb_file_is_narrowed_on_open(
    tmp_path: Path, wide_umask: None
) -> None:
    path = tmp_path / "calls.duckdb"
    open_storage(str(path)).close()
    path.chmod(0o644)
    storage = open_storage(str(path))
    storage.close()
    assert mode_of(path) == 0o600
