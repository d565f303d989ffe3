"""GET /: the recent calls web page, its static files, and the definitions it reads; GET
/docs: the API's documentation, swagger-ui from a pinned package, served here too.

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

from recent_calls import fields
from recent_calls.api.routes.common import PartsDep
from recent_calls.errors import NotFound
from recent_calls.query import breakdowns
from recent_calls.query import buckets as stats
from recent_calls.query import request as query

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
"""What static/ may serve, by suffix: nothing else there (a licence, a map) is served."""

# What /docs needs of the swagger-ui package, served from it (no CDN: nothing on this origin
# comes from elsewhere).
SWAGGER_FILES = {
    "swagger-ui.css": MEDIA_TYPES[".css"],
    "swagger-ui-bundle.js": MEDIA_TYPES[".js"],
    "favicon-32x32.png": "image/png",
}


def _static_files() -> dict[str, str]:
    """Every file of the page under static/ (its vendor/ folder included), by its name there."""
    root = resources.files("recent_calls").joinpath("static")
    found: dict[str, str] = {}
    for folder, prefix in ((root, ""), (root.joinpath("vendor"), "vendor/")):
        for entry in folder.iterdir():
            media_type = MEDIA_TYPES.get("." + entry.name.rpartition(".")[2])
            if entry.is_file() and media_type is not None:
                found[prefix + entry.name] = media_type
    return found


STATIC_FILES = _static_files()


def page_schema(now_ms: int) -> dict[str, Any]:
    """What the page must agree with the server on, read from the definitions themselves."""
    return {
        "dataKeys": list(fields.DATA_KEYS),
        "sortColumns": list(fields.SORT_COLUMNS),
        "durations": list(fields.DURATIONS),
        "listFilters": list(fields.LIST_FILTERS),
        "outcomes": list(fields.OUTCOMES),
        "countFilters": list(fields.COUNT_FILTERS),
        "durationFilters": list(fields.DURATION_FILTERS),
        "durationUnits": list(fields.DURATION_UNITS),
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


@router.get("/docs")
async def docs_page() -> Response:
    return _file("docs.html")


@lru_cache(maxsize=len(SWAGGER_FILES))
def _swagger_content(name: str) -> bytes:
    # Read on first use: importing the package is not the app's business until /docs is asked.
    return resources.files("swagger_ui").joinpath("static", name).read_bytes()


@router.get("/docs/{name}")
async def docs_file(name: str) -> Response:
    media_type = SWAGGER_FILES.get(name)
    if media_type is None:
        raise NotFound("There is nothing at this address.")
    return Response(_swagger_content(name), media_type=media_type)


@router.get("/static/schema.json")
async def schema(parts: PartsDep) -> Response:
    return Response(orjson.dumps(page_schema(parts.clock())), media_type="application/json")


@router.get("/static/vendor/{name}")
async def vendor_file(name: str) -> Response:
    return _file(f"vendor/{name}")


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    return _file(name)
