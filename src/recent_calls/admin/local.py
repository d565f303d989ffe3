"""Administration: tenants, credentials, imports and demo data, on a database or a live server.

`LocalAdmin` works on an open Storage. `RemoteAdmin` asks the server that holds an embedded
database open to do the same, through its admin API. `connect_admin` picks the right one.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol

import orjson

from recent_calls import demo
from recent_calls.admin.control import read_control
from recent_calls.admin.credentials import (
    IssuedCredential,
    issue,
    new_credential,
    parse_scopes,
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
from recent_calls.client.errors import APIError
from recent_calls.client.transport import Transport, decode
from recent_calls.clock import Clock, make_clock
from recent_calls.demo import directory as demo_directory
from recent_calls.errors import (
    Conflict,
    DatabaseLocked,
    FieldError,
    ImportRejected,
    InvalidRequest,
    NotFound,
    problem_error,
)
from recent_calls.fields import REGIONS, SCOPES
from recent_calls.ingest.bulk import MAX_LINE_BYTES, ImportReport, import_lines, ingest_calls
from recent_calls.ingest.bulk import import_calls as bulk_import_calls
from recent_calls.ingest.records import READER_FIELDS
from recent_calls.query.directory import Entry, parse_json
from recent_calls.query.windows import zone_names
from recent_calls.settings import Settings
from recent_calls.storage import open_storage
from recent_calls.storage.base import AuditEntry, Storage

ACTOR_HEADER = "X-Admin-Actor"
SANE_ACTOR = re.compile(r"[A-Za-z0-9@._:()-]{1,100}", re.ASCII)
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
TENANT_ID_RULE = "expected 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
# Key ids are 8 hex digits today; the rule leaves room but never admits '/', '.' or '%'.
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
KEY_ID_RULE = "expected 1-64 letters, digits, '_' or '-' (the id `credentials list` shows)"
DEMO_LABEL = "demo"
# An admin API request that erases calls by id takes at most 200 callIds in a 64 KiB body.
ERASE_BATCH = 200
ERASE_BATCH_BYTES = 48 * 1024


Call = dict[str, Any] | tuple[Any, ...]
"""A call a telephony reader made: in the import shape, or a READER_FIELDS tuple."""


class Admin(Protocol):
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
    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None: ...
    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None: ...
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


def _scopes(given: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return parse_scopes(given)
    except ValueError as exc:
        raise InvalidRequest([FieldError("scopes", str(exc))]) from None


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
        scopes = _scopes(scopes)
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


def _erase_batches(call_ids: list[str]) -> Iterator[list[str]]:
    """`call_ids` in runs that each fit one erase request (count and encoded size)."""
    batch: list[str] = []
    size = 0
    for call_id in call_ids:
        cost = len(orjson.dumps(call_id)) + 1
        if batch and (len(batch) == ERASE_BATCH or size + cost > ERASE_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(call_id)
        size += cost
    if batch:
        yield batch


class RemoteAdmin:
    """Administration through the admin API of the server that holds the database.

    Requests go through the client's retrying `Transport`; only those safe to repeat are
    repeated after an unclear failure. Error answers become the errors `LocalAdmin` raises
    (rebuilt from the problem document), with the client's `APIError` as their cause, so a
    command reads the same on either side; an unreachable server is the client's
    `TransportError`.
    """

    def __init__(
        self,
        url: str,
        admin_token: str,
        timeout: float = 600.0,
        *,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = Transport(
            url,
            headers={"Authorization": f"Bearer {admin_token}", ACTOR_HEADER: local_actor()},
            timeout=timeout,
            retries=retries,
            sleep=sleep,
        )
        self.http = self.transport.http

    def close(self) -> None:
        self.transport.close()

    def _call(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        try:
            response = self.transport.request(method, path, idempotent=idempotent, **kwargs)
        except APIError as exc:
            raise problem_error(exc.status, exc.problem) from exc
        return decode(response) if response.content else None

    def _json(self, method: str, path: str, body: Any, *, idempotent: bool) -> Any:
        return self._call(
            method,
            path,
            idempotent=idempotent,
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        )

    @staticmethod
    def _issued(data: dict[str, Any]) -> IssuedCredential:
        return IssuedCredential(
            data["tenantId"],
            data["region"],
            data["keyId"],
            data["apiKey"],
            data["token"],
            tuple(data.get("scopes", SCOPES)),
        )

    def create_tenant(
        self, tenant_id: str, region: str, label: str = "", timezone: str | None = None
    ) -> IssuedCredential:
        body = {"tenantId": tenant_id, "region": region, "label": label, "timezone": timezone}
        return self._issued(self._json("POST", "/admin/v1/tenants", body, idempotent=False))

    def set_tenant(self, tenant_id: str, *, timezone: str | None) -> None:
        self._json(
            "PATCH", admin_path(tenant_id=tenant_id), {"timezone": timezone}, idempotent=True
        )

    def create_credential(
        self, tenant_id: str, label: str = "", scopes: tuple[str, ...] = SCOPES
    ) -> IssuedCredential:
        path = admin_path("credentials", tenant_id=tenant_id)
        body = {"label": label, "scopes": list(scopes)}
        return self._issued(self._json("POST", path, body, idempotent=False))

    def list_credentials(self, tenant_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", admin_path("credentials", tenant_id=tenant_id), idempotent=True
        )
        return result

    def revoke_credential(self, tenant_id: str, key_id: str) -> None:
        path = admin_path(tenant_id=tenant_id, key_id=key_id)
        self._call("DELETE", path, idempotent=False)  # repeated, it would say "no live credential"

    def rotate_credential(
        self, tenant_id: str, key_id: str, grace_ms: int, label: str = ""
    ) -> IssuedCredential:
        path = admin_path("rotate", tenant_id=tenant_id, key_id=key_id)
        body = {"graceMs": grace_ms, "label": label}
        return self._issued(self._json("POST", path, body, idempotent=False))

    def audit_log(self, tenant_id: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if tenant_id is not None:
            if errors := id_errors(tenant_id):
                raise InvalidRequest(errors)
            params["tenantId"] = tenant_id
        result: list[dict[str, Any]] = self._call(
            "GET", "/admin/v1/audit", params=params, idempotent=True
        )
        return result

    def import_file(
        self, tenant_id: str, source: IO[bytes], *, timezone: str, skip_invalid: bool
    ) -> ImportReport:
        params = {"timezone": timezone, "skipInvalid": str(skip_invalid).lower()}
        try:
            data = self._call(
                "POST",
                admin_path("import", tenant_id=tenant_id),
                params=params,
                idempotent=True,  # replaces by callId; a streamed body is sent once anyway
                content=iter(lambda: source.read(1 << 20), b""),
                headers={"Content-Type": "application/x-ndjson"},
            )
        except InvalidRequest as exc:
            if "lines" in exc.counts and "invalid" in exc.counts:  # a rejected import
                lines, invalid = exc.counts["lines"], exc.counts["invalid"]
                raise ImportRejected(exc.errors, lines, invalid) from None
            raise
        # The counts this client knows: a newer server may answer more.
        counts = {f.name for f in dataclasses.fields(ImportReport)} - {"errors"}
        report = ImportReport(**{k: v for k, v in data.items() if k in counts})
        report.errors = [FieldError(e["field"], e["message"]) for e in data["errors"]]
        return report

    def import_calls(
        self, tenant_id: str, calls: Iterable[Call], *, skip_invalid: bool
    ) -> ImportReport:
        """Send the calls as JSON Lines to the server's import; read whole into a spool first,
        so that a source rejected by its reader sends nothing."""
        with tempfile.TemporaryFile() as spool:
            for call in calls:
                if call.__class__ is tuple:  # a reader's typed call
                    call = dict(zip(READER_FIELDS, call, strict=True))
                spool.write(orjson.dumps(call, option=orjson.OPT_APPEND_NEWLINE))
            spool.seek(0)
            return self.import_file(tenant_id, spool, timezone="GMT", skip_invalid=skip_invalid)

    def store_calls(self, tenant_id: str, calls: list[dict[str, Any]]) -> ImportReport:
        """A follower's few calls, through the server's import."""
        return self.import_calls(tenant_id, calls, skip_invalid=False)

    def seed_demo(self, calls: int, seed: int, *, replace: bool) -> list[IssuedCredential]:
        body = {"calls": calls, "seed": seed, "replace": replace}
        issued = self._json("POST", "/admin/v1/demo", body, idempotent=False)
        return [self._issued(item) for item in issued]

    def compact(self) -> bool:
        return bool(self._call("POST", "/admin/v1/compact", idempotent=True)["compacted"])

    def get_sync_watermark(self, tenant_id: str, source: str) -> int | None:
        path = admin_path("sync-watermark", tenant_id=tenant_id)
        found = self._call("GET", path, params={"source": source}, idempotent=True)["watermarkMs"]
        return None if found is None else int(found)

    def set_sync_watermark(self, tenant_id: str, source: str, watermark_ms: int) -> None:
        body = {"source": source, "watermarkMs": watermark_ms}
        path = admin_path("sync-watermark", tenant_id=tenant_id)
        self._json("PUT", path, body, idempotent=True)

    def replace_directory(self, tenant_id: str, entries: list[Entry]) -> int:
        body = [entry.as_json() for entry in entries]
        path = admin_path("directory", tenant_id=tenant_id)
        return int(self._json("PUT", path, body, idempotent=True)["entries"])

    def directory(self, tenant_id: str) -> list[Entry]:
        path = admin_path("directory", tenant_id=tenant_id)
        return parse_json(self._call("GET", path, idempotent=True))

    def list_tenants(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/admin/v1/tenants", idempotent=True)
        return result

    def set_retention(self, tenant_id: str, retention: str) -> None:
        path = admin_path("retention", tenant_id=tenant_id)
        self._json("PUT", path, {"retention": retention}, idempotent=True)

    def apply_retention(self, tenant_id: str | None) -> dict[str, int]:
        body = {} if tenant_id is None else {"tenantId": tenant_id}
        result: dict[str, int] = self._json(
            "POST", "/admin/v1/retention/apply", body, idempotent=True
        )
        return result

    def erase(
        self, tenant_id: str, number: str | None, name: str | None, *, dry_run: bool
    ) -> dict[str, Any]:
        body = {"number": number, "name": name, "dryRun": dry_run}
        path = admin_path("erase", tenant_id=tenant_id)
        result: dict[str, Any] = self._json("POST", path, body, idempotent=True)
        return result

    def call_ids(
        self, tenant_id: str, low_ms: int, high_ms: int, after: str | None, limit: int
    ) -> list[str]:
        params: dict[str, Any] = {"fromMs": low_ms, "toMs": high_ms, "limit": limit}
        if after is not None:
            params["after"] = after
        path = admin_path("call-ids", tenant_id=tenant_id)
        return [str(i) for i in self._call("GET", path, params=params, idempotent=True)]

    def erase_calls(self, tenant_id: str, call_ids: list[str]) -> int:
        path = admin_path("calls", "erase", tenant_id=tenant_id)
        erased = 0
        for batch in _erase_batches(call_ids):
            erased += int(self._json("POST", path, {"callIds": batch}, idempotent=True)["erased"])
        return erased


@contextmanager
def connect_admin(settings: Settings) -> Iterator[Admin]:
    """Administer the settings' database directly, or through the server that holds it open.

    Directly, every time recorded comes from the settings' clock (`now` frozen, as the servers
    on the same database read it, else the system clock).
    """
    database = settings.database
    clock = make_clock(settings.now)
    try:
        storage = open_storage(database, clock=clock)
    except DatabaseLocked:
        control = read_control(database)
        if control is None:
            raise
        remote = RemoteAdmin(control.url, control.admin_token)
        try:
            yield remote
        finally:
            remote.close()
        return
    try:
        yield LocalAdmin(storage, clock)
    finally:
        storage.close()
