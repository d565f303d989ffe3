"""cli/serve.py: `recent-calls serve` in its own process."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support import serve_demo


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def test_serve_never_prints_the_databases_password(engine: str, database: str) -> None:
    if engine == "duckdb":
        database = str(Path(database).with_name("plain.duckdb"))
        secret = None
    else:
        secret = "Sup3rSecretPassw0rd"  # the test server trusts the user, so it connects
        database = _with_password(database, secret)
    with serve_demo(database, demo=False) as served:
        printed = "\n".join(served.banner)
        assert served.banner[0].startswith("recent-calls serving ")
        if secret is not None:
            assert secret not in printed and ":***@" in printed
