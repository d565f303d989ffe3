"""Where the client connects and with what, from arguments or RECENT_CALLS_* variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URL = "https://api.8x8.com"

Region = Literal["us", "uk"]


class ClientSettings(BaseSettings):
    """A client's connection: RECENT_CALLS_BASE_URL, _API_KEY, _TOKEN, _REGION, _TIMEOUT_S,
    _RETRIES, _MAX_RESPONSE_BYTES and _RESPONSE_DEADLINE_S; empty variables count as unset.
    Secrets are kept out of reprs."""

    model_config = SettingsConfigDict(
        env_prefix="RECENT_CALLS_", extra="ignore", env_ignore_empty=True
    )

    base_url: str = Field(DEFAULT_BASE_URL, min_length=1, description="The server's base URL.")
    api_key: SecretStr | None = Field(None, description="The 8x8-apikey header.")
    token: SecretStr | None = Field(None, description="The token header.")
    region: Region = Field("us", description="The data-residency region: us or uk.")
    timeout_s: float = Field(30.0, gt=0, description="Seconds to wait for each answer.")
    retries: int = Field(5, ge=0, description="Retries of a failed request after the first try.")
    max_response_bytes: int = Field(
        64 << 20, gt=0, description="Largest answer body accepted (decoded), in bytes."
    )
    response_deadline_s: float = Field(
        120.0, gt=0, description="Longest an answer may take in all, body included."
    )
