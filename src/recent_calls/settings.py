"""Settings, from arguments or RECENT_CALLS_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE = "recent-calls.duckdb"


class Settings(BaseSettings):
    """How one server runs; build one per app (nothing is read at import time)."""

    model_config = SettingsConfigDict(env_prefix="RECENT_CALLS_", extra="ignore")

    database: str = Field(
        DEFAULT_DATABASE, description="A DuckDB file path or a postgresql:// URL."
    )
    now: str | None = Field(None, description="Frozen clock: epoch ms or ISO-8601 with offset.")
    max_body_bytes: int = Field(1024 * 1024, description="Largest recentCallData body accepted.")
    max_ingest_bytes: int = Field(16 * 1024 * 1024, description="Largest ingestion body accepted.")
    compact_interval_s: float = Field(60.0, description="How often to check whether to re-cluster.")
    admin_token: str | None = Field(None, description="Secret for the admin API; none: disabled.")
