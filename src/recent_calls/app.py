"""`create_app(settings)`: the ASGI application. Nothing is opened at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from . import __version__, faults, logs, middleware, problems, ratelimit
from .clock import make_clock
from .settings import Settings
from .storage import open_storage
from .storage.base import Storage
from .views import admin, directory, export, health, ingest, recent_calls, stats, web

log = logging.getLogger("recent_calls")


async def _compact_periodically(storage: Storage, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            if await run_in_threadpool(storage.maybe_compact):
                log.info("re-clustered call data")
        except Exception:
            log.exception("compaction failed; will try again")


def create_app(settings: Settings | None = None, *, storage: Storage | None = None) -> FastAPI:
    """The app over `storage`, or over a database it opens from `settings` at startup."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = storage is None
        app.state.storage = storage or await run_in_threadpool(open_storage, settings.database)
        app.state.storage.set_statement_timeout(settings.statement_timeout_ms)
        compactor = asyncio.create_task(
            _compact_periodically(app.state.storage, settings.compact_interval_s)
        )
        try:
            yield
        finally:
            compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await compactor
            if app.state.rate_limiter is not None:
                await app.state.rate_limiter.aclose()
            if owned:
                app.state.storage.close()

    app = FastAPI(
        title="Recent Calls API",
        version=__version__,
        summary="A self-hosted implementation of the contact-center Recent Calls API.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    logs.configure(settings.log_format)
    app.state.settings = settings
    app.state.clock = make_clock(settings.now)
    problems.install(app)
    faults.install(app, settings)
    # Added last is outermost: request id and access log wrap everything, headers next.
    ratelimit.install(app, settings)
    app.add_middleware(middleware.SecurityHeaders)
    app.add_middleware(logs.AccessLog)
    for module in (recent_calls, ingest, admin, health, stats, directory, export, web):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "8x8-apikey"},
            "Token": {"type": "apiKey", "in": "header", "name": "token"},
        }
        app.openapi_schema = schema
    return app.openapi_schema
