"""`recent-calls follow`: the Asterisk follower, its positions kept as the tenant's watermarks."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from recent_calls.admin.base import Admin, Watermarks
from recent_calls.errors import FieldError, InvalidRequest
from recent_calls.ingest.follow import OFFSET_BITS, AsteriskFollower, Position
from recent_calls.ingest.sources import SourceError


class Positions:
    """A file's position as two of the tenant's watermarks: the line's number (for messages)
    then, in one number, its offset and the file's fingerprint: a follower killed between
    the two writes resumes right, only naming lines with other numbers. (The follower of two
    files, whose line numbers matter, saves their positions where a restart reads them only
    once all are written: `ingest.follow`.)"""

    def __init__(self, admin: Watermarks, tenant_id: str) -> None:
        self.admin, self.tenant_id = admin, tenant_id

    def load(self, key: str) -> Position | None:
        packed = self.admin.get_sync_watermark(self.tenant_id, key)
        if packed is None:
            return None
        line = self.admin.get_sync_watermark(self.tenant_id, key + "#line") or 1
        return Position.unpacked(packed, line)

    def save(self, key: str, position: Position) -> None:
        if position.offset >= 1 << OFFSET_BITS:
            raise InvalidRequest([FieldError(key, "is past 64 GiB: rotate it")])
        self.admin.set_sync_watermark(self.tenant_id, key + "#line", position.line)
        self.admin.set_sync_watermark(self.tenant_id, key, position.packed())


def run_follower(
    admin: Admin,
    tenant_id: str,
    queue_log: Path,
    *,
    server: str,
    interval: float,
    echo: Callable[[str], None],
    cdr: Path | None = None,
    timezone: str = "UTC",
) -> None:
    """Follow until SIGINT or SIGTERM, then save where it is and return."""
    admin.list_credentials(tenant_id)  # NotFound now, not at the first call
    positions = Positions(admin, tenant_id)
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    def store(calls: list[dict[str, Any]]) -> None:
        report = admin.store_calls(tenant_id, calls)
        echo(f"stored {report.received} calls: {report.inserted} new, {report.replaced} replaced")

    try:
        follower = AsteriskFollower(
            queue_log,
            server=server,
            store=store,
            load=positions.load,
            save=positions.save,
            cdr=cdr,
            timezone=timezone,
        )
    except SourceError as exc:
        raise InvalidRequest([exc.error]) from None
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    start = follower.log.line
    beside = "" if follower.cdr is None else f" and {cdr} from line {follower.cdr.line}"
    echo(f"following {queue_log} for {tenant_id} from line {start}{beside}")
    reports = [follower.reader.report]
    if follower.reader.cdr is not None:
        reports.append(follower.reader.cdr.report)
    shown = [0] * len(reports)
    try:
        while not stopping:
            stored = follower.poll()
            for at, report in enumerate(reports):
                for error in report.errors[shown[at] :]:
                    click.echo(f"skipped {error.field}: {error.message}", err=True)
                shown[at] = len(report.errors)
            if not stored:
                time.sleep(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        follower.close()
    invalid = sum(report.invalid for report in reports)
    echo(
        f"stopped: {follower.stored} calls stored, {len(follower.reader.open)} open, "
        f"{invalid} invalid lines, {follower.log.rotations} rotations"
    )
