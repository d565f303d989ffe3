"""Administration through the admin API of the server that holds the database open, and
`connect_admin`, which administers a database directly or through that server."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import orjson

from recent_calls.admin.base import ACTOR_HEADER, Admin, Call, admin_path, id_errors, local_actor
from recent_calls.admin.control import read_control
from recent_calls.admin.credentials import (
    IssuedCredential,
)
from recent_calls.admin.local import LocalAdmin
from recent_calls.client.errors import APIError
from recent_calls.client.transport import Transport, decode
from recent_calls.clock import make_clock
from recent_calls.errors import (
    DatabaseLocked,
    FieldError,
    ImportRejected,
    InvalidRequest,
    problem_error,
)
from recent_calls.fields import SCOPES
from recent_calls.ingest.bulk import CallBatch, ImportReport
from recent_calls.ingest.records import READER_FIELDS
from recent_calls.query.directory import Entry, parse_json
from recent_calls.settings import Settings
from recent_calls.storage import open_storage

# An admin API request that erases calls by id takes at most 200 callIds in a 64 KiB body.
ERASE_BATCH = 200
ERASE_BATCH_BYTES = 48 * 1024


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
            for item in calls:
                if isinstance(item, CallBatch):
                    item = item.made()
                for call in item if isinstance(item, list) else (item,):
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
