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

from recent_calls import __version__
from recent_calls.admin.credentials import Authenticator
from recent_calls.admin.retention import apply_retention
from recent_calls.api import problems
from recent_calls.api.faults import FaultInjector
from recent_calls.api.metrics import Metrics
from recent_calls.api.pipeline import Pipeline
from recent_calls.api.ratelimit import make_limiter
from recent_calls.api.routes import (
    admin,
    directory,
    export,
    health,
    push,
    push_freeswitch,
    recent_calls,
    stats,
    web,
)
from recent_calls.api.routes.common import Parts, lean_route
from recent_calls.clock import Clock, make_clock
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import Storage

log = logging.getLogger("recent_calls")


async def _compact_periodically(storage: Storage, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            if await run_in_threadpool(storage.maybe_compact):
                log.info("re-clustered call data")
        except Exception:
            log.exception("compaction failed; will try again")


async def _retain_periodically(storage: Storage, clock: Clock, interval: float) -> None:
    # At start, then every interval: a server that restarts often still applies retention.
    while True:
        try:
            deleted = await run_in_threadpool(apply_retention, storage, clock, "server:retention")
            if any(deleted.values()):
                log.info("retention deleted %d calls", sum(deleted.values()))
        except Exception:
            log.exception("retention failed; will try again")
        await asyncio.sleep(interval)


def _parts(settings: Settings, storage: Storage, clock: Clock | None) -> Parts:
    # One clock: the app's (given, or frozen by RECENT_CALLS_NOW) governs its storage too.
    if clock is not None or settings.now:
        storage.clock = clock or make_clock(settings.now)
    storage.set_statement_timeout(settings.statement_timeout_ms)
    # The embedded engine's every change passes through this process: its cache is exact.
    ttl = settings.auth_cache_s if storage.shared else None
    return Parts(
        settings=settings,
        clock=storage.clock,
        storage=storage,
        auth=Authenticator(storage, storage.clock, ttl_s=ttl),
        limiter=make_limiter(settings),
    )


def create_app(
    settings: Settings | None = None,
    *,
    storage: Storage | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The app over `storage`, or over a database it opens from `settings` at startup.

    Given a storage, the app is ready at once (tests may call it in process without a
    lifespan). Every time the app uses comes from `clock`, else from settings.now, else from
    the storage's clock.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = storage is None
        if owned:
            opened = await run_in_threadpool(open_storage, settings.database)
            app.state.parts = _parts(settings, opened, clock)
        parts: Parts = app.state.parts
        compactor = asyncio.create_task(
            _compact_periodically(parts.storage, settings.compact_interval_s)
        )
        retainer = asyncio.create_task(
            _retain_periodically(parts.storage, parts.clock, settings.retention_interval_s)
        )
        try:
            yield
        finally:
            for task in (compactor, retainer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if parts.limiter is not None:
                await parts.limiter.aclose()
            if owned:
                parts.storage.close()

    app = FastAPI(
        title="Recent Calls API",
        version=__version__,
        summary="A self-hosted implementation of the contact-center Recent Calls API.",
        lifespan=lifespan,
        docs_url=None,  # api/routes/web.py serves /docs, without a CDN
        redoc_url=None,
        # SPEC: any other path is a 404; a slash redirect would answer before the route and
        # credentials checks, with a Location built from the request's Host header.
        redirect_slashes=False,
    )
    if storage is not None:
        app.state.parts = _parts(settings, storage, clock)
    problems.install(app)
    app.state.metrics = metrics = Metrics(lambda: getattr(app.state, "parts", None))
    app.add_middleware(Pipeline, faults=FaultInjector.from_settings(settings), metrics=metrics)
    for module in (
        recent_calls,
        push,
        push_freeswitch,
        admin,
        health,
        stats,
        directory,
        export,
        web,
    ):
        # The routers' routes are complete when their modules load (prefix, tags and
        # dependencies included). `include_router` would wrap each router for this app and
        # rebuild every route's dependency tree on the app's first request (25-30 ms of CPU).
        app.router.routes.extend(module.router.routes)
    # The hot route answers without FastAPI's per-request dependency solving (common.py).
    app.router.routes.insert(0, lean_route(recent_calls.router, recent_calls.recent_call_data))
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
            # The FreeSWITCH route also takes mod_json_cdr's `cred`: api key:token.
            "Basic": {"type": "http", "scheme": "basic"},
        }
        app.openapi_schema = schema
    return app.openapi_schema
