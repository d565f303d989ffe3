"""The page's static files: found by scanning static/, and every module the page imports served."""

from __future__ import annotations

import re
from importlib import resources

from recent_calls.api.routes.web import STATIC_FILES

STATIC = resources.files("recent_calls").joinpath("static")
IMPORT = re.compile(r"""^\s*import\b[^'"]*['"]\./([^'"]+)['"]""", re.M)


def test_every_page_file_is_served_with_its_media_type_and_nothing_else_is() -> None:
    on_disk = {e.name for e in STATIC.iterdir() if e.is_file()}
    on_disk |= {"vendor/" + e.name for e in STATIC.joinpath("vendor").iterdir()}
    served = {name for name in on_disk if name.endswith((".html", ".js", ".css"))}
    assert set(STATIC_FILES) == served
    assert "vendor/uPlot.LICENSE" not in STATIC_FILES
    assert all(STATIC_FILES[name].startswith("text/javascript") for name in served if ".js" in name)


def test_every_module_the_page_imports_is_served() -> None:
    modules = [name for name in STATIC_FILES if name.endswith(".js") and "/" not in name]
    imports = {
        (name, imported)
        for name in modules
        for imported in IMPORT.findall(STATIC.joinpath(name).read_text())
    }
    assert ("app.js", "state.js") in imports  # the scan does read the modules' imports
    missing = sorted((name, imported) for name, imported in imports if imported not in STATIC_FILES)
    assert not missing, f"imported but not served: {missing}"
