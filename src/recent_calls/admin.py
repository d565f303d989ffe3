"""Administration: tenants, credentials, imports and demo data, on a database or a live server.

`LocalAdmin` works on an open Storage. `RemoteAdmin` asks the server that holds an embedded
database open to do the same, through its admin API. `connect_admin` picks the right one.
"""

from __future__ import annotations

import getpass
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol

import httpx

from . import demo
from .clock import Clock, system_clock
from .control import read_control
from .credentials import IssuedCredential, issue, rotate
from .errors import (
    DatabaseLocked,
    FieldError,
    ImportRejected,
    InvalidRequest,
    NotFound,
    problem_error,
)
from .imports import ImportReport, import_lines
from .storage import open_storage
from .storage.base import AuditEntry, Storage

ACTOR_HEADER = "X-Admin-Actor"
SANE_ACTOR = re.compile(r"[A-Za-z0-9@._:()-]{1,100}", re.ASCII)
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
DEMO_LABEL = "demo"


class Admin(Protocol):
    def create_tenant(self, tenant_id: str, region: str, label: str = "") -> IssuedCredential: ...
    def create_credential(self, tenant_id: str, label: str = "") -> IssuedCredential: ...
    def list_credentials(self, tenant_id: str) -> list[dict[str, Any]]: ...
    def revoke_credential(self, tenant_id: str, key_id: str) -> None: ...
    def import_file(
        self, tenant_id: str, source: IO[bytes], *, timezone: str, skip_invalid: bool
    ) -> ImportReport: ...
    def seed_demo(self, calls: int, seed: int, *, replace: bool) -> list[IssuedCredential]: ...
    def compact(self) -> bool: ...
    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None: ...
    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None: ...
    def rotate_credential(
        self, tenant_id: str, key_id: str, grace_ms: int, label: str = ""
    ) -> IssuedCredential: ...
    def audit_log(self, tenant_id: str | None, limit: int) -> list[dict[str, Any]]: ...


def local_actor() -> str:
    """Who runs this process, for the audit trail: `cli:<login name>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    actor = f"cli:{user}"
    return actor if SANE_ACTOR.fullmatch(actor) else "cli"


def check_new_tenant(tenant_id: str, region: str) -> None:
    errors = []
    if not TENANT_ID.fullmatch(tenant_id):
        errors.append(
            FieldError(
                "tenantId",
                "expected 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        )
    if region not in ("us", "uk"):
        errors.append(FieldError("region", "expected us or uk"))
    if errors:
        raise InvalidRequest(errors)


class LocalAdmin:
    """Administration directly on an open database."""

    def __init__(
        self, storage: Storage, clock: Clock = system_clock, actor: str | None = None
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.actor = actor or local_actor()

    def _audit(self, action: str, tenant_id: str, key_id: str = "", detail: str = "") -> None:
        # Real time, not the (possibly frozen) clock: the trail says when things happened.
        at_ms = time.time_ns() // 1_000_000
        self.storage.add_audit(AuditEntry(at_ms, self.actor, action, tenant_id, key_id, detail))

    def _tenant_region(self, tenant_id: str) -> str:
        tenant = self.storage.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id!r} does not exist")
        return tenant.region

    def create_tenant(self, tenant_id: str, region: str, label: str = "") -> IssuedCredential:
        check_new_tenant(tenant_id, region)
        self.storage.create_tenant(tenant_id, region)
        issued = issue(self.storage, tenant_id, region, label)
        self._audit("tenant.create", tenant_id, issued.key_id, f"region={region}")
        return issued

    def create_credential(self, tenant_id: str, label: str = "") -> IssuedCredential:
        issued = issue(self.storage, tenant_id, self._tenant_region(tenant_id), label)
        self._audit("credential.create", tenant_id, issued.key_id)
        return issued

    def rotate_credential(
        self, tenant_id: str, key_id: str, grace_ms: int, label: str = ""
    ) -> IssuedCredential:
        region = self._tenant_region(tenant_id)
        issued = rotate(self.storage, tenant_id, region, key_id, grace_ms, label)
        self._audit(
            "credential.rotate", tenant_id, key_id, f"new={issued.key_id} grace_ms={grace_ms}"
        )
        return issued

    def audit_log(self, tenant_id: str | None, limit: int) -> list[dict[str, Any]]:
        return [
            {
                "atMs": e.at_ms,
                "actor": e.actor,
                "action": e.action,
                "tenantId": e.tenant_id,
                "keyId": e.key_id,
                "detail": e.detail,
            }
            for e in self.storage.list_audit(tenant_id, limit)
        ]

    def list_credentials(self, tenant_id: str) -> list[dict[str, Any]]:
        self._tenant_region(tenant_id)
        return [
            {
                "keyId": c.key_id,
                "label": c.label,
                "createdMs": c.created_ms,
                "revokedMs": c.revoked_ms,
            }
            for c in self.storage.list_credentials(tenant_id)
        ]

    def revoke_credential(self, tenant_id: str, key_id: str) -> None:
        self._tenant_region(tenant_id)
        if not self.storage.revoke_credential(tenant_id, key_id):
            raise NotFound(f"tenant {tenant_id!r} has no live credential {key_id!r}")
        self._audit("credential.revoke", tenant_id, key_id)

    def import_file(
        self, tenant_id: str, source: IO[bytes], *, timezone: str, skip_invalid: bool
    ) -> ImportReport:
        report = import_lines(
            self.storage, tenant_id, source, timezone=timezone, skip_invalid=skip_invalid
        )
        detail = f"received={report.received} inserted={report.inserted} "
        self._audit("calls.import", tenant_id, "", detail + f"replaced={report.replaced}")
        return report

    def seed_demo(self, calls: int, seed: int, *, replace: bool) -> list[IssuedCredential]:
        """Create the demo tenants with `calls` calls each (once, or anew with `replace`)."""
        issued = []
        for index, tenant in enumerate(demo.DEMO_TENANTS):
            if self.storage.get_tenant(tenant.tenant_id) is None:
                self.storage.create_tenant(tenant.tenant_id, tenant.region)
            if replace:
                self.storage.delete_calls(tenant.tenant_id)
            if self.storage.count_calls(tenant.tenant_id) == 0 and calls > 0:
                generated = demo.generate_calls(
                    tenant.tenant_id,
                    calls,
                    seed=seed + index,
                    end_ms=self.clock(),
                    timezone=tenant.timezone,
                )
                import_lines(self.storage, tenant.tenant_id, generated)
            for credential in self.storage.list_credentials(tenant.tenant_id):
                if credential.label == DEMO_LABEL and credential.revoked_ms is None:
                    self.storage.revoke_credential(tenant.tenant_id, credential.key_id)
            issued.append(issue(self.storage, tenant.tenant_id, tenant.region, DEMO_LABEL))
            self._audit("demo.seed", tenant.tenant_id, issued[-1].key_id, f"calls={calls}")
        return issued

    def compact(self) -> bool:
        return self.storage.compact()

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None:
        return self.storage.get_sync_watermark(tenant_id, source)

    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None:
        self._tenant_region(tenant_id)
        self.storage.set_sync_watermark(tenant_id, source, watermark_ms)


class RemoteAdmin:
    """Administration through the admin API of the server that holds the database."""

    def __init__(self, url: str, admin_token: str, timeout: float = 600.0) -> None:
        self.http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {admin_token}", ACTOR_HEADER: local_actor()},
            timeout=timeout,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                document = response.json()
            except ValueError:
                document = {"detail": response.text}
            raise problem_error(response.status_code, document)
        return response.json() if response.content else None

    @staticmethod
    def _issued(data: dict[str, Any]) -> IssuedCredential:
        return IssuedCredential(
            data["tenantId"], data["region"], data["keyId"], data["apiKey"], data["token"]
        )

    def create_tenant(self, tenant_id: str, region: str, label: str = "") -> IssuedCredential:
        body = {"tenantId": tenant_id, "region": region, "label": label}
        return self._issued(self._call("POST", "/admin/v1/tenants", json=body))

    def create_credential(self, tenant_id: str, label: str = "") -> IssuedCredential:
        path = f"/admin/v1/tenants/{tenant_id}/credentials"
        return self._issued(self._call("POST", path, json={"label": label}))

    def list_credentials(self, tenant_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", f"/admin/v1/tenants/{tenant_id}/credentials"
        )
        return result

    def revoke_credential(self, tenant_id: str, key_id: str) -> None:
        self._call("DELETE", f"/admin/v1/tenants/{tenant_id}/credentials/{key_id}")

    def rotate_credential(
        self, tenant_id: str, key_id: str, grace_ms: int, label: str = ""
    ) -> IssuedCredential:
        path = f"/admin/v1/tenants/{tenant_id}/credentials/{key_id}/rotate"
        return self._issued(self._call("POST", path, json={"graceMs": grace_ms, "label": label}))

    def audit_log(self, tenant_id: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if tenant_id is not None:
            params["tenantId"] = tenant_id
        result: list[dict[str, Any]] = self._call("GET", "/admin/v1/audit", params=params)
        return result

    def import_file(
        self, tenant_id: str, source: IO[bytes], *, timezone: str, skip_invalid: bool
    ) -> ImportReport:
        params = {"timezone": timezone, "skipInvalid": str(skip_invalid).lower()}
        try:
            data = self._call(
                "POST",
                f"/admin/v1/tenants/{tenant_id}/import",
                params=params,
                content=iter(lambda: source.read(1 << 20), b""),
                headers={"Content-Type": "application/x-ndjson"},
            )
        except InvalidRequest as exc:
            if exc.detail.endswith("nothing was imported"):
                # The server's detail ("3 of 10 lines are invalid; ...") carries the total.
                counted = re.match(r"\d+ of (\d+) lines", exc.detail)
                total = int(counted.group(1)) if counted else len(exc.errors)
                raise ImportRejected(exc.errors, total) from None
            raise
        report = ImportReport(**{k: v for k, v in data.items() if k != "errors"})
        report.errors = [FieldError(e["field"], e["message"]) for e in data["errors"]]
        return report

    def seed_demo(self, calls: int, seed: int, *, replace: bool) -> list[IssuedCredential]:
        body = {"calls": calls, "seed": seed, "replace": replace}
        return [self._issued(item) for item in self._call("POST", "/admin/v1/demo", json=body)]

    def compact(self) -> bool:
        return bool(self._call("POST", "/admin/v1/compact")["compacted"])

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None:
        path = f"/admin/v1/tenants/{tenant_id}/sync-watermark"
        found = self._call("GET", path, params={"source": source})["watermarkMs"]
        return None if found is None else int(found)

    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None:
        body = {"source": source, "watermarkMs": watermark_ms}
        self._call("PUT", f"/admin/v1/tenants/{tenant_id}/sync-watermark", json=body)


@contextmanager
def connect_admin(database: str, clock: Clock = system_clock) -> Iterator[Admin]:
    """Administer `database` directly, or through the server that holds it open."""
    try:
        storage = open_storage(database)
    except DatabaseLocked:
        control = read_control(database)
        if control is None:
            raise
        remote = RemoteAdmin(control.url, control.admin_token)
        try:
            yield remote
        finally:
            remote.http.close()
        return
    try:
        yield LocalAdmin(storage, clock)
    finally:
        storage.close()
