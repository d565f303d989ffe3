"""Export a tenant's calls from any Recent Calls server to CSV, JSON Lines or Parquet.

Pages are written as they arrive, so memory holds one page (and, for Parquet, one row group)
however large the export. JSON Lines holds each item as the server sent it plus `startTime`
(epoch ms), so an exported file imports back (`recent-calls import`) as the same calls.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

import orjson

from recent_calls.client import Call, Query, RecentCallsClient
from recent_calls.fields import CSV_COLUMNS, csv_row

if TYPE_CHECKING:  # pyarrow is imported when Parquet is written: the server never needs it
    import pyarrow as pa

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")
ROW_GROUP_ROWS = 50_000

Progress = Callable[[int, int], None]
"""Called after each page with (calls written so far, hits)."""


class CallWriter(Protocol):
    def write(self, calls: Sequence[Call]) -> None: ...
    def close(self) -> None: ...


class JsonLinesWriter:
    """One import line per call: the item as received, plus `startTime` in epoch ms."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target

    def write(self, calls: Sequence[Call]) -> None:
        self.target.write(b"".join(orjson.dumps(c.as_import_line()) + b"\n" for c in calls))

    def close(self) -> None:
        self.target.flush()


class CsvWriter:
    """The reference's keys as columns, values as the server sent them (formula-safe, see
    `csv_cell`), plus `startTime`."""

    def __init__(self, target: IO[bytes]) -> None:
        self.text = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
        self.rows = csv.writer(self.text)
        self.rows.writerow(CSV_COLUMNS)

    def write(self, calls: Sequence[Call]) -> None:
        self.rows.writerows(csv_row(call.as_import_line()) for call in calls)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()  # the caller owns the file


def parquet_schema(timezone: str) -> pa.Schema:
    """Typed columns named as the API names them; `callDate` is a timestamp in `timezone`."""
    import pyarrow as pa

    text, number, whole, texts = pa.string(), pa.float64(), pa.int64(), pa.list_(pa.string())
    return pa.schema(
        [
            ("callId", text),
            ("callDate", pa.timestamp("ms", tz=timezone)),
            ("startTime", whole),
            ("callDuration", whole),
            ("agentCallHandlingDuration", number),
            ("timeInIVR", number),
            ("holdDuration", number),
            ("maximumHoldDuration", number),
            ("waitTime", number),
            ("abandonTime", number),
            ("transferCount", whole),
            ("muteDuration", whole),
            ("queueId", texts),
            ("agentId", texts),
            ("agentGroup", texts),
            ("transactionId", texts),
            ("callerName", text),
            ("callerNumber", text),
            ("callerPhoneNumber", text),
            ("dialedNumber", text),
            ("destinationNumber", text),
            ("scheduleHours", text),
            ("callType", text),
            ("callSubType", text),
            ("hungupBy", text),
            ("totalScore", text),
            ("voiceCommentFileNames", text),
            ("postCallSurvey", text),
            ("voiceComment", text),
            ("tenantId", text),
        ]
    )


def parquet_row(call: Call) -> dict[str, Any]:
    """One Parquet row; `postCallSurvey` and `voiceComment` stay JSON text (free-form)."""
    return {
        "callId": call.call_id,
        "callDate": call.call_date,
        "startTime": call.start_ms,
        "callDuration": call.call_duration,
        "agentCallHandlingDuration": call.agent_call_handling_duration,
        "timeInIVR": call.time_in_ivr,
        "holdDuration": call.hold_duration,
        "maximumHoldDuration": call.maximum_hold_duration,
        "waitTime": call.wait_time,
        "abandonTime": call.abandon_time,
        "transferCount": call.transfer_count,
        "muteDuration": call.mute_duration,
        "queueId": call.queue_ids,
        "agentId": call.agent_ids,
        "agentGroup": call.agent_groups,
        "transactionId": call.transaction_ids,
        "callerName": call.caller_name,
        "callerNumber": call.caller_number,
        "callerPhoneNumber": call.caller_phone_number,
        "dialedNumber": call.dialed_number,
        "destinationNumber": call.destination_number,
        "scheduleHours": call.schedule_hours,
        "callType": call.call_type,
        "callSubType": call.call_sub_type,
        "hungupBy": call.hungup_by,
        "totalScore": call.total_score,
        "voiceCommentFileNames": call.voice_comment_file_names,
        "postCallSurvey": orjson.dumps(call.post_call_survey).decode(),
        "voiceComment": orjson.dumps(call.voice_comment).decode(),
        "tenantId": call.tenant_id,
    }


class ParquetWriter:
    """Typed columns, written one row group at a time with pyarrow's ParquetWriter."""

    def __init__(
        self, target: str | Path | IO[bytes], timezone: str, row_group_rows: int = ROW_GROUP_ROWS
    ) -> None:
        import pyarrow.parquet as pq

        self.schema = parquet_schema(timezone)
        self.writer = pq.ParquetWriter(target, self.schema, compression="zstd")
        self.row_group_rows = row_group_rows
        self.pending: list[dict[str, Any]] = []

    def _flush(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            import pyarrow as pa

            table = pa.Table.from_pylist(rows, schema=self.schema)
            self.writer.write_table(table, row_group_size=self.row_group_rows)

    def write(self, calls: Sequence[Call]) -> None:
        self.pending.extend(parquet_row(call) for call in calls)
        while len(self.pending) >= self.row_group_rows:  # whole row groups only
            self._flush(self.pending[: self.row_group_rows])
            del self.pending[: self.row_group_rows]

    def close(self) -> None:
        self._flush(self.pending)
        self.pending = []
        self.writer.close()


def open_writer(
    fmt: Format, target: IO[bytes], timezone: str, row_group_rows: int = ROW_GROUP_ROWS
) -> CallWriter:
    """A writer of `fmt` into the binary file `target` (which the caller closes)."""
    if fmt == "jsonl":
        return JsonLinesWriter(target)
    if fmt == "csv":
        return CsvWriter(target)
    if fmt == "parquet":
        return ParquetWriter(target, timezone, row_group_rows)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class ExportResult:
    written: int
    hits: int
    pages: int


def export_calls(
    client: RecentCallsClient,
    tenant_id: str,
    query: Query | None,
    target: IO[bytes],
    fmt: Format,
    *,
    rows: int = 1000,
    row_group_rows: int = ROW_GROUP_ROWS,
    progress: Progress | None = None,
) -> ExportResult:
    """Write every call of `tenant_id` matching `query` to `target`, page by page."""
    query = query or Query()
    writer = open_writer(fmt, target, query.timezone, row_group_rows)
    written = hits = pages = 0
    previous: set[str] = set()
    try:
        for page in client.iter_pages(tenant_id, query, rows=rows):
            # Calls arriving during the walk push older ones down a page: skip repeats.
            calls = [call for call in page.calls if call.call_id not in previous]
            previous = {call.call_id for call in page.calls}
            writer.write(calls)
            written += len(calls)
            hits = max(page.hits, written)
            pages += 1
            if progress:
                progress(written, hits)
    finally:
        writer.close()
    return ExportResult(written, hits, pages)
