"""The package's layout: which sub-package may import which, and a client that loads no server.

Dependencies run one way. The command line may use anything; the HTTP service (`api`) sits on
administration, ingestion, queries and storage; ingestion on storage and queries; storage hands
the pure query compilers' SQL fragments to its engine; the query code uses no storage and no
I/O; the client is a library of its own that shares only the field definitions and the error
dataclass with the server.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import recent_calls

PACKAGE = Path(recent_calls.__file__).parent
SHARED = {"fields", "errors"}
"""Top-level modules that anything may import: the one definition of each fact, the error tree."""

ALLOWED: dict[str, set[str]] = {
    "fields": set(),
    "errors": set(),
    "clock": set(),
    "settings": set(),
    "circuit": set(),
    "client": {"client"},
    "query": {"query", "clock"},
    "storage": {"storage", "query", "clock", "circuit"},
    "ingest": {"ingest", "storage", "query", "client", "clock", "settings"},
    "demo": {"demo", "ingest", "storage", "query", "clock"},
    "admin": {"admin", "ingest", "demo", "storage", "query", "client", "clock", "settings"},
    "api": {"api", "admin", "ingest", "query", "storage", "clock", "settings", "circuit"},
    "cli": {
        "cli",
        "api",
        "admin",
        "ingest",
        "demo",
        "query",
        "storage",
        "client",
        "clock",
        "settings",
        "circuit",
    },
    "__main__": {"cli"},
}
SERVER_PACKAGES = ("api", "admin", "ingest", "demo", "query", "storage", "cli")


def _part_of(module: str) -> str:
    """The sub-package (or top-level module) a dotted `recent_calls...` name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()


def _imports(path: Path) -> set[str]:
    """Every `recent_calls...` module a file imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("recent_calls."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: imports inside the package are absolute"
            if node.module == "recent_calls":  # a module, or a name of the package itself
                found.update(
                    f"recent_calls.{a.name}" if _is_module(a.name) else "recent_calls"
                    for a in node.names
                )
            elif node.module.startswith("recent_calls."):
                found.add(node.module)
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_a_rule() -> None:
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _sources()}
    assert parts - {"__init__", "py"} == set(ALLOWED)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    allowed = ALLOWED.get(own, set()) | SHARED | {own, ""}
    wrong = sorted(m for m in _imports(path) if _part_of(m) not in allowed)
    assert not wrong, f"{own} may not import {wrong}"


def test_the_rules_catch_a_wrong_import(tmp_path: Path) -> None:
    """The checker itself: a query module that imports storage is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from recent_calls.storage.base import Storage\n")
    assert _part_of(next(iter(_imports(bad)))) not in ALLOWED["query"] | SHARED


def test_importing_the_client_loads_no_server_module() -> None:
    code = (
        "import json, sys; import recent_calls.client, recent_calls.client.files; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(probe.stdout)
    ours = [m for m in loaded if m.startswith("recent_calls.")]
    server = [m for m in ours if _part_of(m) in SERVER_PACKAGES]
    assert not server, f"import recent_calls.client loaded {server}"
    assert "recent_calls.client.client" in ours  # the probe did import the client
    engines = {"fastapi", "starlette", "duckdb", "psycopg", "uvicorn"} & set(loaded)
    assert not engines, f"import recent_calls.client loaded {sorted(engines)}"


def test_serving_the_embedded_engine_loads_no_postgresql_driver() -> None:
    code = (
        "import sys, recent_calls.cli.main, recent_calls.cli.serve; print('psycopg' in sys.modules)"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"


def test_the_readmes_map_names_every_module_in_its_folder() -> None:
    """README's "Where things live" is true file by file: each module is named in its row."""
    readme = (PACKAGE.parent.parent / "README.md").read_text()
    section = readme.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    rows = [row.split("|") for row in section.splitlines() if row.startswith("| `")]
    missing = []
    for path in _sources():
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py":
            continue
        if len(relative.parts) > 1:  # a folder's row names its modules in the second cell
            folder = f"`{relative.parent.as_posix()}/`"
            named = any(r[1].strip() == folder and f"`{path.name}`" in r[2] for r in rows)
        else:  # a top-level module's row names it in the first cell
            named = any(f"`{path.name}`" in r[1] for r in rows)
        if not named:
            missing.append(str(relative))
    assert not missing, f"not in README's map: {missing}"
