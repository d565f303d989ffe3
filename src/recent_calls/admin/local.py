"""Administration on an open database: tenants, credentials, imports, demo data, retention
and erasure, each audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from recent_calls import demo
from recent_calls.admin.base import (
    DEMO_LABEL,
    Call,
    check_new_tenant,
    checked_scopes,
    id_errors,
    local_actor,
    zone_errors,
)
from recent_calls.admin.credentials import (
    IssuedCredential,
    issue,
    new_credential,
    rotate,
)
from recent_calls.admin.retention import (
    BATCH as RETENTION_BATCH,
)
from recent_calls.admin.retention import (
    apply_retention,
    caller_hash,
    number_digits,
    parse_retention,
    show_retention,
)
from recent_calls.clock import Clock
from recent_calls.demo import directory as demo_directory
from recent_calls.errors import (
    Conflict,
    FieldError,
    InvalidRequest,
    NotFound,
)
from recent_calls.fields import SCOPES
from recent_calls.ingest.bulk import MAX_LINE_BYTES, ImportReport, import_lines, ingest_calls
from recent_calls.ingest.bulk import import_calls as bulk_import_calls
from recent_calls.query.directory import Entry
from recent_calls.storage.base import AuditEntry, Storage


def _import_detail(report: ImportReport) -> str:
    """An import's counts for the audit trail; `kept` only when it happened."""
    detail = f"received={report.received} inserted={report.inserted} replaced={report.replaced}"
    return f"{detail} kept={report.kept}" if report.kept else detail


class LocalAdmin:
    """Administration directly on an open database."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock | None = None,
        actor: str | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.storage = storage
        self.max_line_bytes = max_line_bytes
        self.clock = clock or storage.clock
        self.actor = actor or local_actor()

    def _entry(self, action: str, tenant_id: str, key_id: str = "", detail: str = "") -> AuditEntry:
        return AuditEntry(self.clock(), self.actor, action, tenant_id, key_id, detail)

    def _audit(self, action: str, tenant_id: str, key_id: str = "", detail: str = "") -> None:
        self.storage.add_audit(self._entry(action, tenant_id, key_id, detail))

    def _tenant_region(self, tenant_id: str) -> str:
        tenant = self.storage.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(
                f"tenant {tenant_id!r} does not exist; create it with: "
                f"recent-calls tenant create {tenant_id} --region us|uk"
            )
        return tenant.region

    def create_tenant(
        self, tenant_id: str, region: str, label: str = "", timezone: str | None = None
    ) -> IssuedCredential:
        check_new_tenant(tenant_id, region, timezone)
        # Ids that differ only in case would read as one tenant to people: refuse the second.
        folded = tenant_id.casefold()
        for existing in self.storage.list_tenants():
            if existing.tenant_id.casefold() == folded and existing.tenant_id != tenant_id:
                raise Conflict(
                    f"tenant {existing.tenant_id!r} exists; tenant ids that differ only in "
                    f"case are refused, so {tenant_id!r} cannot be created"
                )
        issued, stored = new_credential(tenant_id, region, self.clock(), label)
        # One transaction: a failure leaves no tenant without its credential or audit row.
        detail = f"region={region}" + (f" timezone={timezone}" if timezone else "")
        audit = self._entry("tenant.create", tenant_id, issued.key_id, detail)
        self.storage.create_tenant(
            tenant_id, region, credential=stored, audit=audit, timezone=timezone
        )
        return issued

    def set_tenant(self, tenant_id: str, *, timezone: str | None) -> None:
        """Change what is given of the tenant's settings: a zone, or "" to clear it."""
        errors = id_errors(tenant_id) + zone_errors(timezone or None)
        if errors:
            raise InvalidRequest(errors)
        if timezone is None:  # nothing asked; still say when there is no such tenant
            self._tenant_region(tenant_id)
            return
        audit = self._entry("tenant.set", tenant_id, "", f"timezone={timezone}")
        if not self.storage.set_tenant_timezone(tenant_id, timezone or None, audit):
            raise NotFound(f"tenant {tenant_id!r} does not exist")

    def create_credential(
        self, tenant_id: str, label: str = "", scopes: tuple[str, ...] = SCOPES
    ) -> IssuedCredential:
        scopes = checked_scopes(scopes)
        region = self._tenant_region(tenant_id)
        issued = issue(self.storage, tenant_id, region, label, now_ms=self.clock(), scopes=scopes)
        self._audit("credential.create", tenant_id, issued.key_id, f"scopes={','.join(scopes)}")
        return issued

    def rotate_credential(
        self, tenant_id: str, key_id: str, grace_ms: int, label: str = ""
    ) -> IssuedCredential:
        region = self._tenant_region(tenant_id)
        issued = rotate(
            self.storage, tenant_id, region, key_id, grace_ms, label, now_ms=self.clock()
        )
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
                "scopes": list(c.scopes),
            }
            for c in self.storage.list_credentials(tenant_id)
        ]

    def revoke_credential(self, tenant_id: str, key_id: str) -> None:
        self._tenant_region(tenant_id)
        if not self.storage.revoke_credential(tenant_id, key_id):
            raise NotFound(
                f"tenant {tenant_id!r} has no live credential {key_id!r}; its credentials: "
                f"recent-calls credentials list {tenant_id}"
            )
        self._audit("credential.revoke", tenant_id, key_id)

    def import_file(
        self, tenant_id: str, source: IO[bytes], *, timezone: str, skip_invalid: bool
    ) -> ImportReport:
        report = import_lines(
            self.storage,
            tenant_id,
            source,
            timezone=timezone,
            skip_invalid=skip_invalid,
            max_line_bytes=self.max_line_bytes,
        )
        self._audit("calls.import", tenant_id, "", _import_detail(report))
        return report

    def import_calls(
        self, tenant_id: str, calls: Iterable[Call], *, skip_invalid: bool
    ) -> ImportReport:
        """Import calls a telephony reader made (epoch-ms times), in one transaction."""
        report = bulk_import_calls(self.storage, tenant_id, calls, skip_invalid=skip_invalid)
        self._audit("calls.import", tenant_id, "", _import_detail(report))
        return report

    def store_calls(self, tenant_id: str, calls: list[dict[str, Any]]) -> ImportReport:
        """Store a follower's few calls at once, as a push does (and, as a push, unaudited)."""
        self._tenant_region(tenant_id)
        return ingest_calls(self.storage, tenant_id, calls)

    def seed_demo(self, calls: int, seed: int, *, replace: bool) -> list[IssuedCredential]:
        """Create the demo tenants with `calls` calls each (once, or anew with `replace`); per
        tenant, a read-only credential and then a push-only one."""
        issued = []
        for index, tenant in enumerate(demo.DEMO_TENANTS):
            existing = self.storage.get_tenant(tenant.tenant_id)
            if existing is None:
                self.storage.create_tenant(
                    tenant.tenant_id, tenant.region, timezone=tenant.timezone
                )
            elif existing.timezone is None:  # seeded before tenants had a zone
                self.storage.set_tenant_timezone(tenant.tenant_id, tenant.timezone)
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
            names = demo_directory.directory_for(self.storage, tenant.tenant_id, seed + index)
            self.storage.replace_directory(tenant.tenant_id, names)
            # Least privilege: the console only reads; the pushing curl only pushes.
            for scope in SCOPES:
                issued.append(
                    issue(
                        self.storage,
                        tenant.tenant_id,
                        tenant.region,
                        DEMO_LABEL,
                        now_ms=self.clock(),
                        scopes=(scope,),
                    )
                )
                self._audit(
                    "demo.seed", tenant.tenant_id, issued[-1].key_id, f"calls={calls} scope={scope}"
                )
        return issued

    def compact(self) -> bool:
        return self.storage.compact()

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None:
        return self.storage.get_sync_watermark(tenant_id, source)

    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None:
        self._tenant_region(tenant_id)
        self.storage.set_sync_watermark(tenant_id, source, watermark_ms)

    def replace_directory(self, tenant_id: str, entries: list[Entry]) -> int:
        """Make `entries` the tenant's whole directory of display names."""
        self._tenant_region(tenant_id)
        count = self.storage.replace_directory(tenant_id, entries)
        self._audit("directory.replace", tenant_id, "", f"entries={count}")
        return count

    def directory(self, tenant_id: str) -> list[Entry]:
        self._tenant_region(tenant_id)
        return self.storage.directory(tenant_id)

    def list_tenants(self) -> list[dict[str, Any]]:
        return [
            {
                "tenantId": t.tenant_id,
                "region": t.region,
                "createdMs": t.created_ms,
                "retention": show_retention(t.retention_ms),
            }
            for t in self.storage.list_tenants()
        ]

    def set_retention(self, tenant_id: str, retention: str) -> None:
        """Set the tenant's retention period (`400d`, `8w`, `2y`) or clear it (`none`)."""
        try:
            retention_ms = parse_retention(retention)
        except ValueError as exc:
            raise InvalidRequest([FieldError("retention", str(exc))]) from None
        if not self.storage.set_retention(tenant_id, retention_ms):
            raise NotFound(f"tenant {tenant_id!r} does not exist")
        self._audit("tenant.retention", tenant_id, "", f"retention={show_retention(retention_ms)}")

    def apply_retention(self, tenant_id: str | None) -> dict[str, int]:
        """Delete what each tenant's retention period (or only `tenant_id`'s) no longer keeps."""
        if tenant_id is not None:
            self._tenant_region(tenant_id)
        return apply_retention(self.storage, self.clock, self.actor, tenant_id)

    def erase(
        self, tenant_id: str, number: str | None, name: str | None, *, dry_run: bool
    ) -> dict[str, Any]:
        """Delete every call of one caller (by the number's digits, or the name); with
        `dry_run`, only count them and show the newest. The audit keeps a salted hash."""
        self._tenant_region(tenant_id)
        try:
            digits = number_digits(number) if number else None
        except ValueError as exc:
            raise InvalidRequest([FieldError("number", str(exc))]) from None
        if not digits and not (name and name.strip()):
            raise InvalidRequest([FieldError("number", "give the caller's number or name")])
        found, first = self.storage.caller_calls(tenant_id, digits, name or None)
        answer: dict[str, Any] = {
            "calls": found,
            "first": [
                {"callId": c, "startMs": start, "callerName": who, "callerNumber": num}
                for c, start, who, num in first
            ],
            "erased": 0,
        }
        if dry_run:
            return answer
        answer["erased"] = self.storage.erase_caller(tenant_id, digits, name or None)
        hashed = caller_hash(self.storage.erasure_salt(), digits, name)
        self._audit("caller.erase", tenant_id, "", f"erased={answer['erased']} caller={hashed}")
        answer["first"] = []  # gone now: nothing of them is returned
        return answer

    def call_ids(
        self, tenant_id: str, low_ms: int, high_ms: int, after: str | None, limit: int
    ) -> list[str]:
        """The callIds of the tenant's calls that started in [low_ms, high_ms), in callId
        order after `after`: a page of at most `limit` (what a sync compares with its source)."""
        self._tenant_region(tenant_id)
        return self.storage.call_ids_between(tenant_id, low_ms, high_ms, after, limit)

    def erase_calls(self, tenant_id: str, call_ids: list[str]) -> int:
        """Delete the tenant's calls with these callIds (those a sync's source no longer has);
        the audit keeps how many, not which."""
        self._tenant_region(tenant_id)
        erased = 0
        for start in range(0, len(call_ids), RETENTION_BATCH):  # short transactions
            erased += self.storage.delete_call_ids(
                tenant_id, call_ids[start : start + RETENTION_BATCH]
            )
        self._audit("calls.erase", tenant_id, "", f"erased={erased} asked={len(call_ids)}")
        return erased
