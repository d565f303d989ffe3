"""What administration is, wherever it runs: the `Admin` protocol that `LocalAdmin` (on an open
database, admin/local.py) and `RemoteAdmin` (through a running server's admin API,
admin/remote.py) both keep, and the rules for ids and paths that both sides check.
"""

from __future__ import annotations

import getpass
import os
import re
import urllib.parse
from collections.abc import Iterable
from typing import IO, Any, Protocol

from recent_calls.admin.credentials import (
    IssuedCredential,
    parse_scopes,
)
from recent_calls.errors import (
    FieldError,
    InvalidRequest,
)
from recent_calls.fields import REGIONS, SCOPES
from recent_calls.ingest.bulk import CallBatch, ImportReport
from recent_calls.query.directory import Entry
from recent_calls.query.windows import zone_names

ACTOR_HEADER = "X-Admin-Actor"
SANE_ACTOR = re.compile(r"[A-Za-z0-9@._:()-]{1,100}", re.ASCII)
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
TENANT_ID_RULE = "expected 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
# Key ids are 8 hex digits today; the rule leaves room but never admits '/', '.' or '%'.
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
KEY_ID_RULE = "expected 1-64 letters, digits, '_' or '-' (the id `credentials list` shows)"
DEMO_LABEL = "demo"


Call = dict[str, Any] | tuple[Any, ...] | list[tuple[Any, ...]] | CallBatch
"""A call a telephony reader made: in the import shape, or a READER_FIELDS tuple; or a batch
of such tuples, as a list or a `CallBatch` still to be made (how an Asterisk import's read
hands them over)."""


class Watermarks(Protocol):
    """Where a tenant's sync and follow positions are kept: each write its own transaction."""

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None: ...
    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None: ...


class Admin(Watermarks, Protocol):
    def create_tenant(
        self, tenant_id: str, region: str, label: str = "", timezone: str | None = None
    ) -> IssuedCredential: ...
    def set_tenant(self, tenant_id: str, *, timezone: str | None) -> None: ...
    def create_credential(
        self, tenant_id: str, label: str = "", scopes: tuple[str, ...] = SCOPES
    ) -> IssuedCredential: ...
    def list_credentials(self, tenant_id: str) -> list[dict[str, Any]]: ...
    def revoke_credential(self, tenant_id: str, key_id: str) -> None: ...
    def import_file(
        self, tenant_id: str, source: IO[bytes], *, timezone: str, skip_invalid: bool
    ) -> ImportReport: ...
    def import_calls(
        self, tenant_id: str, calls: Iterable[Call], *, skip_invalid: bool
    ) -> ImportReport: ...
    def store_calls(self, tenant_id: str, calls: list[dict[str, Any]]) -> ImportReport: ...
    def seed_demo(self, calls: int, seed: int, *, replace: bool) -> list[IssuedCredential]: ...
    def compact(self) -> bool: ...
    def rotate_credential(
        self, tenant_id: str, key_id: str, grace_ms: int, label: str = ""
    ) -> IssuedCredential: ...
    def audit_log(self, tenant_id: str | None, limit: int) -> list[dict[str, Any]]: ...
    def replace_directory(self, tenant_id: str, entries: list[Entry]) -> int: ...
    def directory(self, tenant_id: str) -> list[Entry]: ...
    def list_tenants(self) -> list[dict[str, Any]]: ...
    def set_retention(self, tenant_id: str, retention: str) -> None: ...
    def apply_retention(self, tenant_id: str | None) -> dict[str, int]: ...
    def erase(
        self, tenant_id: str, number: str | None, name: str | None, *, dry_run: bool
    ) -> dict[str, Any]: ...
    def call_ids(
        self, tenant_id: str, low_ms: int, high_ms: int, after: str | None, limit: int
    ) -> list[str]: ...
    def erase_calls(self, tenant_id: str, call_ids: list[str]) -> int: ...


def local_actor() -> str:
    """Who runs this process, for the audit trail: `cli:<login name>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    actor = f"cli:{user}"
    return actor if SANE_ACTOR.fullmatch(actor) else "cli"


def id_errors(tenant_id: str | None = None, key_id: str | None = None) -> list[FieldError]:
    """What is wrong with a tenant id and a key id (those given), by the one rule of each."""
    errors = []
    if tenant_id is not None and not TENANT_ID.fullmatch(tenant_id):
        errors.append(FieldError("tenantId", f"{TENANT_ID_RULE}, not {tenant_id[:200]!r}"))
    if key_id is not None and not KEY_ID.fullmatch(key_id):
        errors.append(FieldError("keyId", f"{KEY_ID_RULE}, not {key_id[:200]!r}"))
    return errors


def admin_path(*segments: str, tenant_id: str, key_id: str | None = None) -> str:
    """An admin API path under the tenant (and key): ids checked, then percent-encoded."""
    errors = id_errors(tenant_id, key_id)
    if errors:
        raise InvalidRequest(errors)
    parts = [tenant_id] if key_id is None else [tenant_id, "credentials", key_id]
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in (*parts, *segments))
    return f"/admin/v1/tenants/{quoted}"


def zone_errors(timezone: str | None) -> list[FieldError]:
    """What is wrong with a tenant's zone (none is fine: the console then uses the browser's)."""
    if timezone is None or timezone in zone_names():
        return []
    return [
        FieldError(
            "timezone",
            f'expected an IANA time zone name, e.g. "Europe/London", not {timezone[:200]!r}',
        )
    ]


def check_new_tenant(tenant_id: str, region: str, timezone: str | None = None) -> None:
    errors = id_errors(tenant_id)
    if region not in REGIONS:
        errors.append(FieldError("region", "expected us or uk"))
    errors += zone_errors(timezone)
    if errors:
        raise InvalidRequest(errors)


def checked_scopes(given: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return parse_scopes(given)
    except ValueError as exc:
        raise InvalidRequest([FieldError("scopes", str(exc))]) from None
