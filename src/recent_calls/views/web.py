"""GET /: the recent calls web page, its static files, and the definitions it reads.

The page copies nothing the server defines: `/static/schema.json` hands it the response keys,
the filter names, the durations, the sort columns and the chart intervals from the Python
definitions, and the server's clock (so "now" on the page is the server's "now").
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from .. import breakdowns, query, render, stats, windows
from ..errors import NotFound
from .common import PartsDep

router = APIRouter(include_in_schema=False)

_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"

# The page's files and their media types: nothing else under static/ is served.
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.css": _CSS,
    "app.js": _JS,
    "api.js": _JS,
    "state.js": _JS,
    "format.js": _JS,
    "csv.js": _JS,
    "dom.js": _JS,
    "chart.js": _JS,
    "table.js": _JS,
    "details.js": _JS,
    "filters.js": _JS,
    "breakdowns.js": _JS,
    "navigate.js": _JS,
    "names.js": _JS,
    "words.js": _JS,
    "vendor/uPlot.iife.min.js": _JS,
    "vendor/uPlot.min.css": _CSS,
}


def page_schema(now_ms: int) -> dict[str, Any]:
    """What the page must agree with the server on, read from the definitions themselves."""
    return {
        "dataKeys": list(render.DATA_KEYS),
        "sortColumns": list(query.SORT_COLUMNS),
        "durations": list(windows.DURATIONS),
        "listFilters": list(query.LIST_FILTERS),
        "outcomes": list(query.OUTCOMES),
        "countFilters": list(query.COUNT_FILTERS),
        "durationFilters": list(query.DURATION_FILTERS),
        "durationUnits": list(query.DURATION_UNITS),
        "breakdowns": list(breakdowns.GROUP_BY),
        "breakdownFilters": dict(breakdowns.ROW_FILTER),
        "serviceLevelSeconds": breakdowns.DEFAULT_SERVICE_LEVEL_S,
        "intervals": list(stats.INTERVALS),
        "maxBuckets": stats.MAX_BUCKETS,
        "maxRows": query.MAX_ROWS,
        "now": now_ms,
    }


@lru_cache(maxsize=len(STATIC_FILES))
def _content(name: str) -> bytes:
    folder = resources.files("recent_calls").joinpath("static")
    for part in name.split("/"):
        folder = folder.joinpath(part)
    return folder.read_bytes()


def _file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFound("There is nothing at this address.")
    # Its security headers (a policy that runs only the page's own files) are the pipeline's.
    return Response(_content(name), media_type=media_type)


@router.get("/")
async def page() -> Response:
    return _file("index.html")


@router.get("/static/schema.json")
async def schema(parts: PartsDep) -> Response:
    return Response(orjson.dumps(page_schema(parts.clock())), media_type="application/json")


@router.get("/static/vendor/{name}")
async def vendor_file(name: str) -> Response:
    return _file(f"vendor/{name}")


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    return _file(name)
