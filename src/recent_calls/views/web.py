"""GET /: the recent calls web page, and its few static files, all shipped in the package."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from ..errors import NotFound

router = APIRouter(include_in_schema=False)

# The page's files and their media types: nothing else under static/ is served.
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
}

# The page runs no inline script or style and talks only to this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@lru_cache(maxsize=len(STATIC_FILES))
def _content(name: str) -> bytes:
    return resources.files("recent_calls").joinpath("static", name).read_bytes()


def _file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFound("There is nothing at this address.")
    return Response(_content(name), media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/")
async def page() -> Response:
    return _file("index.html")


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    return _file(name)
