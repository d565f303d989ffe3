"""The service's ASGI app for granian, configured as `recent-calls serve` is: from RECENT_CALLS_*
environment variables (the database, the frozen clock, rate limits, ...).

    RECENT_CALLS_DATABASE=postgresql://... granian --interface asgi --factory --workers 2 \
        bench.granian_app:app

Each worker calls the factory: its app opens its own storage at startup (the ASGI lifespan) and
closes it at shutdown, so nothing is opened before the workers exist.
"""

from __future__ import annotations

from fastapi import FastAPI

from recent_calls.api import logs
from recent_calls.api.app import create_app
from recent_calls.settings import Settings


def app() -> FastAPI:
    settings = Settings()
    # The server sets up logging (create_app leaves it alone): here the factory is the server.
    logs.configure(settings.log_format)
    return create_app(settings)
