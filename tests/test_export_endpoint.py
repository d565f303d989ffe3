"""POST recentCallExport: the CSV of `recent-calls export`, streamed from storage."""

from __future__ import annotations

import csv
import io
from typing import Any

from recent_calls.client import Query
from recent_calls.client.files import export_calls
from recent_calls.fields import CSV_COLUMNS
from recent_calls.ingest.bulk import import_lines
from tests.calls import make_call
from tests.support import FROZEN_NOW, LiveServer, connect, varied_calls

EXPORT = "/customerexperience/v1/recentCallExport"
NOW = int(FROZEN_NOW)


def export(server: LiveServer, credential: Any, **fields: Any) -> Any:
    headers = {"8x8-apikey": credential.api_key, "token": credential.token}
    body = {"tenantId": credential.tenant_id, "duration": "allhistory", **fields}
    return server.http.post(f"{EXPORT}/{credential.region}", headers=headers, json=body)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_the_csv_is_byte_for_byte_the_cli_exports(server: LiveServer) -> None:
    acme = server.tenant("acme", calls=varied_calls(40))
    server.tenant("other", calls=varied_calls(5, tenant="other"))
    response = export(server, acme, timezone="America/New_York", sortColumn="waitTime",
                      sortOrder="asc", page=3, rows=2)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["x-total-count"] == "40"
    target = io.BytesIO()
    query = Query(duration="allhistory", timezone="America/New_York", sort_column="waitTime",
                  sort_order="asc")  # fmt: skip
    with connect(server, acme) as client:
        export_calls(client, "acme", query, target, "csv", rows=7)
    assert response.content == target.getvalue()
    rows = rows_of(response.text)
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 41  # page and rows are ignored
    waits = [float(row[CSV_COLUMNS.index("waitTime")]) for row in rows[1:]]
    assert waits == sorted(waits)
    assert {row[CSV_COLUMNS.index("tenantId")] for row in rows[1:]} == {"acme"}


FORMULAS = ['=HYPERLINK("http://x")', "+1+2", "-3", "@SUM(A1)", "\tTab", "\rReturn"]


def test_formula_cells_are_neutralised(server: LiveServer) -> None:
    calls = [
        make_call(f"f{n}", NOW - 1000 * (n + 1), callerName=text, callerNumber="+18005550100")
        for n, text in enumerate(FORMULAS)
    ]
    calls.append(make_call("plain", NOW - 9000, callerName="Pat = Caller"))
    acme = server.tenant("acme", calls=calls)
    rows = rows_of(export(server, acme).text)
    name, number = CSV_COLUMNS.index("callerName"), CSV_COLUMNS.index("callerNumber")
    by_id = {row[CSV_COLUMNS.index("callId")]: row for row in rows[1:]}
    for n, text in enumerate(FORMULAS):
        assert by_id[f"f{n}"][name] == "'" + text
        assert by_id[f"f{n}"][number] == "'+18005550100"
    assert by_id["plain"][name] == "Pat = Caller"  # only the first character counts


def test_more_than_a_chunk_streams_every_call_once(server: LiveServer) -> None:
    acme = server.tenant("acme")
    calls = [make_call(f"c{n:05d}", NOW - 1000 * (n + 1)) for n in range(5_003)]
    import_lines(server.storage, "acme", calls)
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    body = {"tenantId": "acme", "duration": "allhistory"}
    with server.http.stream("POST", f"{EXPORT}/us", headers=headers, json=body) as response:
        assert response.headers["x-total-count"] == "5003"
        assert "content-length" not in response.headers  # streamed, not built whole
        pieces = list(response.iter_raw())
    rows = rows_of(b"".join(pieces).decode())
    ids = [row[CSV_COLUMNS.index("callId")] for row in rows[1:]]
    assert ids == [f"c{n:05d}" for n in range(5_003)]  # newest first, none twice, none lost


def test_the_filename_names_tenant_window_and_date(server: LiveServer) -> None:
    acme = server.tenant("acme", calls=[make_call("c1", NOW - 1000)])
    disposition = export(server, acme, duration="today").headers["content-disposition"]
    assert disposition == 'attachment; filename="acme_today_2024-03-13.csv"'
    response = export(server, acme, duration=None, timeRange="1000-2000", timezone="Asia/Tokyo")
    assert response.headers["content-disposition"].endswith('"acme_1000-2000_2024-03-14.csv"')
    assert rows_of(response.text) == [list(CSV_COLUMNS)]  # no calls: the header alone
    assert response.headers["x-total-count"] == "0"


def test_checks_run_in_the_order_of_recent_call_data(server: LiveServer) -> None:
    acme = server.tenant("acme")
    server.tenant("other", calls=[make_call("secret", NOW - 1000)])
    url = f"{EXPORT}/us"
    assert server.http.post(f"{EXPORT}/eu", json={"tenantId": "acme"}).status_code == 404
    assert server.http.post(url, json={"tenantId": "acme", "duration": "today"}).status_code == 401
    headers = {"8x8-apikey": acme.api_key, "token": acme.token}
    assert server.http.post(url, headers=headers, content=b"{").status_code == 415
    response = server.http.post(url, headers=headers, json={"tenantId": "other"})
    assert response.status_code == 400  # fields before the tenant binding
    assert response.json()["errors"][0]["field"] == "duration"
    response = export(server, acme, tenantId="other")
    assert response.status_code == 403 and "secret" not in response.text
    assert export(server, acme, sortColumn="nope").status_code == 400
    body = {"tenantId": "acme", "duration": "today"}
    assert server.http.post(f"{EXPORT}/uk", headers=headers, json=body).status_code == 403
