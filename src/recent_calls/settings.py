"""Settings, from arguments or RECENT_CALLS_* environment variables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE = "recent-calls.duckdb"
ENV_PREFIX = "RECENT_CALLS_"


class Settings(BaseSettings):
    """How one server runs; build one per app (nothing is read at import time)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database: str = Field(
        DEFAULT_DATABASE, description="A DuckDB file path or a postgresql:// URL."
    )
    database_file: str | None = Field(
        None,
        description="A file whose first line is `database`, so that a password stays out of the "
        "process list; it takes the place of `database`.",
    )
    now: str | None = Field(None, description="Frozen clock: epoch ms or ISO-8601 with offset.")
    max_body_bytes: int = Field(1024 * 1024, description="Largest recentCallData body accepted.")
    max_ingest_bytes: int = Field(16 * 1024 * 1024, description="Largest ingestion body accepted.")
    max_import_bytes: int = Field(
        4 << 30,
        ge=1,
        description="Largest call import the admin API takes (it is spooled to disk).",
    )
    max_line_bytes: int = Field(
        1 << 20, ge=1, description="Longest JSON Lines line an import through the API reads."
    )
    compact_interval_s: float = Field(60.0, description="How often to check whether to re-cluster.")
    retention_interval_s: float = Field(
        3600.0, gt=0, description="How often to delete calls past their tenant's retention."
    )
    admin_token: str | None = Field(None, description="Secret for the admin API; none: disabled.")
    fault_rate_429: float = Field(
        0.0, ge=0, le=1, description="Share of API requests answered 429."
    )
    fault_rate_503: float = Field(
        0.0, ge=0, le=1, description="Share of API requests answered 503."
    )
    fault_delay_ms: int = Field(0, ge=0, description="Delay added to delayed API requests (ms).")
    fault_delay_rate: float = Field(1.0, ge=0, le=1, description="Share of API requests delayed.")
    fault_retry_after_s: int = Field(1, ge=0, description="Retry-After of injected 429 answers.")
    fault_seed: int | None = Field(None, description="Seed of the fault draws, for replays.")
    rate_limit_per_s: float = Field(
        50.0, ge=0, description="Requests per second per credential, after the burst; 0: off."
    )
    rate_limit_burst: int = Field(
        200, ge=1, description="Requests a credential may make at once (its bucket's size)."
    )
    redis_url: str | None = Field(
        None, description="redis:// URL; rate limits are then shared by every API replica."
    )
    statement_timeout_ms: int = Field(
        30_000, ge=0, description="Longest a read query may run before a 503; 0: no limit."
    )
    auth_cache_s: float = Field(
        5.0,
        ge=0,
        description="On a server database, the longest a credential or tenant is kept in "
        "memory: a credential revoked by another process stops working within this time.",
    )
    workers: int = Field(
        1, ge=1, le=256, description="API processes sharing the socket (server databases only)."
    )
    pool_size: int = Field(
        10, ge=1, description="Most PostgreSQL connections this process holds (its pool's size)."
    )
    max_head_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request head (request line and headers); 431."
    )
    max_headers: int = Field(100, ge=10, description="Most headers in one request; 431.")
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest a request's body may take to arrive after its head; 408."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses (or networks) of proxies whose X-Forwarded-For is believed, "
        "comma-separated; none: the peer's own address is the client.",
    )
    log_format: Literal["json", "text"] = Field("json", description="Access and server logs.")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # From the environment a list is written `10.0.0.1,10.0.0.2`, not as JSON.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _database_from_file(self) -> Settings:
        if self.database_file is not None:
            try:
                with open(self.database_file, encoding="utf-8") as source:
                    database = source.readline().strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read {self.database_file}: {exc}") from None
            if not database:
                raise ValueError(
                    f"{self.database_file} holds no database path or URL on its first line"
                )
            self.database = database
        return self
