"""A fresh, empty PostgreSQL database for each test that needs one.

The server is the first of these that can be had, once per test session:

1. the server URL in the environment variable RECENT_CALLS_TEST_POSTGRES, when it is set (a
   server that does not answer is then an error, not a reason to look further);
2. the machine's own server at 127.0.0.1:5432, user postgres, trust authentication;
3. a throwaway cluster made with initdb and started with pg_ctl in a temporary folder, on a free
   loopback port, stopped and removed when the test process exits.

Each `fresh_database` makes a uniquely named database on that server and drops it afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.support import free_port

ENV = "RECENT_CALLS_TEST_POSTGRES"
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
HOW_TO = (
    f"Set {ENV} to a PostgreSQL server URL whose user may create databases "
    "(e.g. postgresql://postgres@127.0.0.1:5432/postgres), run a server at 127.0.0.1:5432 that "
    "trusts the user postgres, or install the PostgreSQL server binaries (initdb and pg_ctl, "
    "e.g. `apt-get install postgresql`) so that the tests can start a throwaway cluster."
)


class NoPostgres(RuntimeError):
    """No PostgreSQL server could be found or started for the tests."""


def _answers(url: str) -> None:
    with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
        conn.execute("SELECT 1")


@functools.cache
def postgres_server() -> str:
    """The URL of a server for this test session, on a database to connect to for admin work."""
    explicit = os.environ.get(ENV, "").strip()
    if explicit:
        try:
            _answers(explicit)
        except psycopg.Error as exc:
            raise NoPostgres(f"{ENV}={explicit!r} does not answer: {exc}".strip()) from None
        return explicit
    reasons = []
    try:
        _answers(LOCAL_SERVER)
        return LOCAL_SERVER
    except psycopg.Error as exc:
        reasons.append(f"no server at {LOCAL_SERVER} ({str(exc).strip()})")
    try:
        return start_throwaway_cluster()
    except NoPostgres as exc:
        reasons.append(str(exc))
    raise NoPostgres("no PostgreSQL for the tests: " + "; ".join(reasons) + ". " + HOW_TO)


def with_database(url: str, database: str) -> str:
    """`url` naming `database` instead of the one it names."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _create(server: str, name: str, template: str) -> None:
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(statement.format(sql.Identifier(name), sql.Identifier(template)))


def _drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        force = " WITH (FORCE)" if admin.info.server_version >= 130000 else ""
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}" + force).format(sql.Identifier(name)))


@contextmanager
def fresh_database(server_url: str | None = None, template: str = "template0") -> Iterator[str]:
    """Create a database on the server (a copy of `template`), yield its URL, then drop it."""
    server = server_url or postgres_server()
    if citus_mode() and server == postgres_server():
        if template == CITUS_TEMPLATE:
            with citus_schema(server, distributed=True) as url:
                yield url
        else:
            with citus_database(server) as url:
                yield url
        return
    pool = _POOLS.setdefault((server, template), [])
    name = pool.pop() if pool else _new_database(server, template)
    try:
        yield with_database(server, name)
    finally:
        if _reusable(server, name, template):
            pool.append(name)
        else:
            _drop(server, name)


# -- reuse: a test's database, emptied, serves the next test ------------------------------------
#
# Making a database from a template and dropping it costs 0.3 to 1.5 s on a loaded 2-core
# machine; emptying its tables costs a few milliseconds. A database goes back to the pool only
# when its structure (tables, columns, indexes, functions, extensions, triggers, settings and
# applied migrations) is still the template's: a test that migrated, altered or distributed it
# gets it dropped, as before. Every pooled database is dropped when the test process exits.

_POOLS: dict[tuple[str, str], list[str]] = {}
_FINGERPRINTS: dict[tuple[str, str], tuple[Any, ...]] = {}
_FINGERPRINT = """
SELECT
  (SELECT md5(coalesce(string_agg(format('%s %s %s %s', c.relnamespace::regnamespace, c.relname,
          c.relkind, a.attname || ':' || format_type(a.atttypid, a.atttypmod) || a.attnotnull),
          ',' ORDER BY 1), ''))
     FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
     WHERE NOT a.attisdropped AND c.relnamespace::regnamespace::text NOT LIKE 'pg\\_%'
       AND c.relnamespace <> 'information_schema'::regnamespace),
  (SELECT md5(coalesce(string_agg(indexdef, ',' ORDER BY indexdef), '')) FROM pg_indexes
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
       AND schemaname NOT LIKE 'pg\\_temp\\_%'),
  (SELECT md5(coalesce(string_agg(p.proname || pg_get_function_identity_arguments(p.oid)
          || md5(p.prosrc), ',' ORDER BY 1), ''))
     FROM pg_proc p WHERE p.pronamespace::regnamespace::text NOT LIKE 'pg\\_%'
       AND p.pronamespace <> 'information_schema'::regnamespace),
  (SELECT md5(coalesce(string_agg(extname || extversion, ',' ORDER BY 1), '')) FROM pg_extension),
  (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal),
  (SELECT count(*) FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'),
  (SELECT count(*) FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())),
  (SELECT datallowconn::text || datconnlimit FROM pg_database WHERE datname = current_database()),
  (SELECT md5(coalesce(string_agg(relname || ':' || relacl::text, ',' ORDER BY 1), ''))
     FROM pg_class WHERE relacl IS NOT NULL AND relnamespace = 'public'::regnamespace)
"""
_TRUNCATE_BYTES = 4 << 20
_MIGRATIONS = "SELECT array_agg(version ORDER BY version)::text FROM schema_migrations"


def _new_database(server: str, template: str) -> str:
    name = f"rc_test_{secrets.token_hex(6)}"
    _create(server, name, template)
    if (server, template) not in _FINGERPRINTS:
        with psycopg.connect(with_database(server, name), autocommit=True) as conn:
            _FINGERPRINTS[(server, template)] = _structure(conn)
        atexit.register(_drop_pool, server, template)
    return name


def _structure(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    shape = conn.execute(_FINGERPRINT).fetchone()
    assert shape is not None
    has_migrations = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    migrations = (
        conn.execute(_MIGRATIONS).fetchone() if has_migrations and has_migrations[0] else None
    )
    return (*shape, migrations)


# One connection per pooled database does the emptying, kept open between tests: a new session
# costs the server about 5 ms of CPU, and its first look at the catalogs (the structure check)
# another 10. A test that ends every session in its database ends this one too; it is opened
# again.
_KEEPERS: dict[str, psycopg.Connection[Any]] = {}


def _keeper(server: str, name: str) -> psycopg.Connection[Any]:
    conn = _KEEPERS.get(name)
    if conn is None or conn.closed or conn.broken:
        conn = psycopg.connect(
            with_database(server, name), autocommit=True, application_name="tests-pool"
        )
        _KEEPERS[name] = conn
    return conn


def _let_go(name: str) -> None:
    conn = _KEEPERS.pop(name, None)
    if conn is not None:
        conn.close()


def _reusable(server: str, name: str, template: str) -> bool:
    """Empty `name` for the next test when its structure is still the template's."""
    for attempt in (1, 2):
        try:
            reusable = _emptied(_keeper(server, name), (server, template))
        except psycopg.OperationalError:
            reusable = False
            if attempt == 1:
                _let_go(name)  # the test ended our session: once more, with a new one
                continue
        except psycopg.Error:
            reusable = False
        if not reusable:
            _let_go(name)
        return reusable
    return False


def _emptied(conn: psycopg.Connection[Any], template_key: tuple[str, str]) -> bool:
    # Whatever the test left connected (a killed server's sessions) goes first.
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    if _structure(conn) != _FINGERPRINTS.get(template_key):
        return False
    # DELETE empties a small table in a millisecond; TRUNCATE, which makes new files,
    # is worth its 0.1 s only for a table a test filled.
    # A terminated session's temporary tables (pg_temp_N) go as it exits, maybe only now: they
    # are not ours to empty, and one gone between the listing and its size has none (NULL).
    small, large = [], []
    for schema, table, size in conn.execute(
        "SELECT schemaname, tablename, pg_total_relation_size(format('%I.%I', "
        "schemaname, tablename)) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
        "AND schemaname NOT LIKE 'pg\\_temp\\_%' AND tablename <> 'schema_migrations'"
    ).fetchall():
        if size is not None:
            (large if size > _TRUNCATE_BYTES else small).append(sql.Identifier(schema, table))
    for table in small:
        conn.execute(sql.SQL("DELETE FROM {}").format(table))
    if large:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(large)))
    for (sequence,) in conn.execute(
        "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences"
    ).fetchall():
        conn.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.SQL(sequence)))
    return True


def _drop_pool(server: str, template: str) -> None:
    for name in _POOLS.pop((server, template), []):
        _let_go(name)
        with contextlib.suppress(psycopg.Error):
            _drop(server, name)


@functools.cache
def migrated_template() -> str:
    """A database with the schema applied, made once per test process, to copy per test.

    Copying a migrated template is several times faster than migrating every test's database.
    Dropped when the test process exits.
    """
    from recent_calls.storage import open_storage

    if citus_mode():
        return CITUS_TEMPLATE
    server = postgres_server()
    name = f"rc_template_{secrets.token_hex(6)}"
    _create(server, name, "template0")
    atexit.register(_drop, server, name)
    open_storage(with_database(server, name)).close()
    return name


# -- on a Citus cluster ----------------------------------------------------------------------------
#
# With RECENT_CALLS_TEST_CITUS=1, RECENT_CALLS_TEST_POSTGRES names a database on a Citus
# coordinator that has the citus extension and its workers registered (scripts/test-citus makes
# one). Citus does not propagate CREATE DATABASE, and a database with Citus in it cannot be copied
# as a template (its maintenance daemon stays connected). So a test that asks for a migrated
# database gets a schema of its own in that database, first on the search path, migrated and then
# distributed by `recent_calls.storage.citus.distribute`, as an operator would; a test that asks
# for an empty database gets one made on every node, with Citus and the workers registered.

CITUS_ENV = "RECENT_CALLS_TEST_CITUS"
CITUS_TEMPLATE = "citus-distributed"
# Shards of calls per test schema: a few per worker keep tenants apart across workers, and make
# each test's schema quicker to distribute and drop than Citus' default of 32.
CITUS_SHARDS_ENV = "RECENT_CALLS_TEST_CITUS_SHARDS"


def citus_mode() -> bool:
    """Whether the tests run on a Citus cluster (see above)."""
    return os.environ.get(CITUS_ENV, "").strip() not in ("", "0")


def with_schema(url: str, schema: str) -> str:
    """`url` with `schema` first on the search path (public after it, for the extensions)."""
    parts = urlsplit(url)
    query = f"options=-csearch_path%3D{schema}%2Cpublic"
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


@functools.cache
def _citus_extensions(server: str) -> None:
    """The search extensions in `public`, once: made from a test's schema, they would be made in
    it, be missing from the other tests' search paths, and go with it when it is dropped."""
    with psycopg.connect(server, autocommit=True) as admin:
        for name in ("pg_trgm", "btree_gin"):
            admin.execute(
                sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA public").format(
                    sql.Identifier(name)
                )
            )


@contextmanager
def citus_schema(server: str, *, distributed: bool) -> Iterator[str]:
    """A schema of its own on the Citus database `server`; migrated and distributed if asked."""
    _citus_extensions(server)
    schema = f"rc_test_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = with_schema(server, schema)
    try:
        if distributed:
            from recent_calls.storage.citus import distribute

            distribute(url, shard_count=int(os.environ.get(CITUS_SHARDS_ENV, "8")))
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


def _nodes(server: str) -> list[str]:
    """The server URLs (on their `postgres` database) of the workers registered with `server`."""
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeid"
        ).fetchall()
    parts = urlsplit(server)
    user = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
    login = f"{user}@" if user else ""
    return [urlunsplit(parts._replace(netloc=f"{login}{host}:{port}", path="/postgres"))
            for host, port in rows]  # fmt: skip


@contextmanager
def citus_database(server: str) -> Iterator[str]:
    """An empty database of its own on every node of the cluster, with Citus and the workers.

    For tests that need a database to themselves (its own extensions, connections, statistics),
    which a schema in a shared database is not; slower to make than a schema."""
    name = f"rc_test_{secrets.token_hex(6)}"
    workers = _nodes(server)
    made: list[str] = []
    try:
        for node in [*workers, with_database(server, "postgres")]:
            _create(node, name, "template0")
            made.append(node)
            with psycopg.connect(with_database(node, name), autocommit=True) as conn:
                conn.execute("SET client_min_messages = warning")
                conn.execute("CREATE EXTENSION citus")
        url = with_database(server, name)
        coordinator = urlsplit(server)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "SELECT citus_set_coordinator_host(%s, %s)",
                (coordinator.hostname, coordinator.port or 5432),
            )
            for node in workers:
                where = urlsplit(node)
                conn.execute("SELECT citus_add_node(%s, %s)", (where.hostname, where.port))
        yield url
    finally:
        for node in reversed(made):
            _drop(node, name)


# -- the throwaway cluster ---------------------------------------------------------------------


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise NoPostgres("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
    return Path(candidates[-1]).parent


def start_throwaway_cluster() -> str:
    bindir = _bindir()
    run_as: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="rc-test-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise NoPostgres("running as root and there is no `postgres` account") from None
        os.chown(root, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid}
    data, log = root / "data", root / "server.log"
    port = free_port()

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, capture_output=True, text=True, timeout=120, check=False, cwd=root, **run_as
        )

    base = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    made = command(*base, "--no-sync", "--locale=C.UTF-8")
    if made.returncode != 0:  # no C.UTF-8 locale on this machine
        shutil.rmtree(data, ignore_errors=True)
        made = command(*base, "--no-sync", "--no-locale")
    if made.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise NoPostgres(f"initdb failed: {made.stderr.strip()[-500:]}")
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = str(bindir / "pg_ctl")
    started = command(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    if started.returncode != 0:
        detail = log.read_text()[-500:] if log.exists() else started.stderr
        shutil.rmtree(root, ignore_errors=True)
        raise NoPostgres(f"pg_ctl could not start a throwaway cluster: {detail.strip()}")

    def stop() -> None:
        command(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"
