"""The typed rows storage hands out besides a page of calls (storage/columns.py `CallRow`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from recent_calls.storage.columns import CallColumns, CallRow


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    region: str
    created_ms: int
    retention_ms: int | None = None
    """Calls that started longer ago than this are deleted (retention.py); None keeps all."""
    timezone: str | None = None


@dataclass(frozen=True)
class Credential:
    """A credential as stored: hashes only, never the secrets."""

    key_hash: str
    tenant_id: str
    key_id: str
    token_hash: str
    label: str
    created_ms: int
    revoked_ms: int | None = None
    scopes: tuple[str, ...] = ("read", "push")


@dataclass(frozen=True)
class AuditEntry:
    """One admin action: who did what to which tenant and credential, and when; no secrets."""

    at_ms: int
    actor: str
    action: str
    tenant_id: str
    key_id: str = ""
    detail: str = ""


@dataclass(frozen=True)
class UpsertResult:
    received: int
    inserted: int
    replaced: int
    kept: int = 0
    """Calls already stored with a newer version than the import's (`sourceVersion`), left as
    they were: neither inserted nor replaced."""


@dataclass(frozen=True)
class SearchResult:
    """The exact hits of a search and its page, as columns (`rows` builds the rows); or, for a
    page a search handed to `each` a part at a time (`Storage.search`), what `each` made of
    the parts, in order, and no page."""

    hits: int
    page: CallColumns = field(default_factory=lambda: CallColumns.of_rows([]))
    parts: tuple[Any, ...] = ()

    @classmethod
    def of_rows(cls, hits: int, rows: list[CallRow]) -> SearchResult:
        return cls(hits, CallColumns.of_rows(rows))

    @cached_property
    def rows(self) -> list[CallRow]:
        return self.page.rows()
