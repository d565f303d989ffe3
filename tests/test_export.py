"""`recent-calls export` and the export library, against the real server."""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recent_calls.cli.main import main
from recent_calls.client import Call, Query, RecentCallsClient, count_range
from recent_calls.client.files import export_calls, parquet_row
from recent_calls.fields import CSV_COLUMNS
from recent_calls.ingest.bulk import import_lines
from tests.calls import make_call
from tests.support import LiveServer, connect, varied_calls
from tests.upstream import answer, item, page, upstream


def api_calls(client: RecentCallsClient, query: Query | None = None) -> list[Call]:
    return list(client.iter_calls("acme", query, rows=5000))


def cli_env(server: LiveServer, credential: Any) -> dict[str, str]:
    return {
        "RECENT_CALLS_BASE_URL": server.url,
        "RECENT_CALLS_API_KEY": credential.api_key,
        "RECENT_CALLS_TOKEN": credential.token,
        "RECENT_CALLS_REGION": credential.region,
    }


def test_jsonl_export_holds_the_api_items_and_imports_back_as_the_same_calls(
    server: LiveServer,
) -> None:
    credential = server.tenant("acme", calls=varied_calls())
    target = io.BytesIO()
    seen: list[tuple[int, int]] = []
    query = Query(timezone="America/New_York")
    with connect(server, credential) as client:
        result = export_calls(
            client, "acme", query, target, "jsonl", rows=7, progress=lambda *a: seen.append(a)
        )
        expected = api_calls(client, query)
    lines = [orjson.loads(line) for line in target.getvalue().splitlines()]
    assert result.written == result.hits == 40 and result.pages == 6
    assert seen[0] == (7, 40) and seen[-1] == (40, 40)
    assert lines == [{**call.raw, "startTime": call.start_ms} for call in expected]

    # Imported under another tenant (callDate in another zone: startTime decides), the same.
    copy = server.tenant("copy")
    import_lines(server.storage, "copy", target.getvalue().splitlines(), timezone="Asia/Tokyo")
    with connect(server, copy) as client:
        copied = list(client.iter_calls("copy", query, rows=5000))
    assert [{**c.raw, "tenantId": "acme"} for c in copied] == [c.raw for c in expected]


def test_csv_export_has_the_references_columns_and_values(server: LiveServer) -> None:
    credential = server.tenant("acme", calls=varied_calls(12))
    target = io.BytesIO()
    query = Query(agent_hold_count=count_range(1))
    with connect(server, credential) as client:
        export_calls(client, "acme", query, target, "csv", rows=5)
        expected = api_calls(client, query)
    rows = list(csv.DictReader(io.StringIO(target.getvalue().decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(expected) == 9
    for row, call in zip(rows, expected, strict=True):
        assert row == {key: str(value) for key, value in call.as_import_line().items()}


def test_parquet_export_is_typed_and_written_in_row_groups(server: LiveServer) -> None:
    credential = server.tenant("acme", calls=varied_calls(25))
    target = io.BytesIO()
    query = Query(timezone="Europe/London")
    with connect(server, credential) as client:
        export_calls(client, "acme", query, target, "parquet", rows=4, row_group_rows=10)
        expected = api_calls(client, query)
    target.seek(0)
    parquet = pq.ParquetFile(target)
    assert parquet.metadata.num_row_groups == 3  # 10 + 10 + 5: never the whole export at once
    table = parquet.read()
    assert str(table.schema.field("callDate").type) == "timestamp[ms, tz=Europe/London]"
    assert str(table.schema.field("agentId").type) == "list<element: string>"
    assert table.to_pylist() == [parquet_row(call) for call in expected]
    first = table.slice(0, 1).to_pylist()[0]
    assert first["callDate"] == expected[0].call_date and first["callDuration"] == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_command_writes_each_format(server: LiveServer, tmp_path: Path, fmt: str) -> None:
    credential = server.tenant("acme", calls=varied_calls(10))
    output = tmp_path / f"calls.{fmt}"
    result = CliRunner().invoke(
        main,
        ["export", "--tenant", "acme", "--queue", "101", "--rows", "2", "-o", str(output)],
        env=cli_env(server, credential),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"exported 5 calls of acme to {output} ({fmt})" in result.output
    assert not list(tmp_path.glob("*.part"))
    if fmt == "parquet":
        ids = pq.read_table(output).column("callId").to_pylist()
    elif fmt == "csv":
        ids = [row["callId"] for row in csv.DictReader(output.open(newline=""))]
    else:
        ids = [orjson.loads(line)["callId"] for line in output.read_bytes().splitlines()]
    assert ids == ["acme-000", "acme-001", "acme-004", "acme-005", "acme-007"]


def test_export_command_takes_flags_and_reports_api_errors(
    server: LiveServer, tmp_path: Path
) -> None:
    credential = server.tenant("acme", calls=varied_calls(5))
    flags = ["--base-url", server.url, "--api-key", credential.api_key, "--token"]
    output = tmp_path / "out.jsonl"
    good = CliRunner().invoke(
        main,
        [
            "export",
            *flags,
            credential.token,
            "--tenant",
            "acme",
            "--time-range",
            "0 - 99999999999999",
            "-o",
            str(output),
        ],
    )
    assert good.exit_code == 0, good.output
    assert len(output.read_bytes().splitlines()) == 5
    bad = CliRunner().invoke(
        main,
        [
            "export",
            *flags,
            credential.token,
            "--tenant",
            "acme",
            "--call-duration",
            "hours:1,2",
            "-o",
            str(tmp_path / "bad.csv"),
        ],
    )
    assert bad.exit_code == 1 and "callDuration" in bad.output
    assert not (tmp_path / "bad.csv").exists() and not list(tmp_path.glob("*.part"))


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(server: LiveServer) -> None:
    formulas = ['=HYPERLINK("http://x","y")', "+1+2", "-3", "@SUM(A1)", "\tTab", "\rReturn"]
    calls = [
        make_call(f"f{n}", 1710000000000 + n, callerName=text, callerNumber="+18005550100")
        for n, text in enumerate(formulas)
    ]
    calls.append(make_call("plain", 1710000009000, callerName="Pat = Caller"))
    credential = server.tenant("acme", calls=calls)
    target = io.BytesIO()
    with connect(server, credential) as client:
        export_calls(client, "acme", Query(duration="allhistory"), target, "csv")
    rows = {row["callId"]: row for row in csv.DictReader(io.StringIO(target.getvalue().decode()))}
    for n, text in enumerate(formulas):
        assert rows[f"f{n}"]["callerName"] == "'" + text
        assert rows[f"f{n}"]["callerNumber"] == "'+18005550100"
    assert rows["plain"]["callerName"] == "Pat = Caller"
    assert rows["plain"]["callerNumber"] == "7325550100"


def test_export_from_a_server_that_ignores_page_stops_after_the_repeat() -> None:
    same = [item("a", 1_700_000_000_000), item("b", 1_700_000_060_000)]

    def ignores_page(body: dict[str, Any], conn: socket.socket) -> None:
        answer(conn, page(same, hits=1_000_000))

    target = io.BytesIO()
    with (
        upstream(ignores_page) as (url, seen),
        RecentCallsClient(url, api_key="k", token="t", retries=0) as client,
    ):
        result = export_calls(client, "acme", None, target, "jsonl", rows=2)
    assert (result.written, result.pages, len(seen)) == (2, 1, 2)
    assert [orjson.loads(line)["callId"] for line in target.getvalue().splitlines()] == ["a", "b"]
