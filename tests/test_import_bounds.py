"""ingest/bulk.py and the admin import: memory and disk stay bounded whatever the input.

An endless line (/dev/zero) is refused after one block, naming the line; a line past the limit
inside a file is named too; an upload past the admin API's limit is a 413 before it fills the
disk; a directory file with millions of bad lines reports the first MAX_REPORTED_ERRORS.
"""

from __future__ import annotations

import io
import resource

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from recent_calls.api.app import create_app
from recent_calls.cli.main import main
from recent_calls.errors import InvalidRequest
from recent_calls.ingest import bulk
from recent_calls.ingest.bulk import BLOCK_BYTES, MAX_LINE_BYTES, MAX_REPORTED_ERRORS, import_lines
from recent_calls.query.directory import parse_csv
from recent_calls.settings import Settings
from recent_calls.storage.base import Storage
from tests.calls import make_call
from tests.support import FROZEN_NOW, InProcessHTTP

START = 1_710_000_000_000


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_an_endless_line_is_refused_after_one_block_naming_it(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    before = _peak_rss_bytes()
    with open("/dev/zero", "rb") as endless, pytest.raises(InvalidRequest) as refused:
        import_lines(storage, "acme", endless, workers=1)
    assert [e.as_dict() for e in refused.value.errors] == [
        {"field": "line 1", "message": f"is longer than {MAX_LINE_BYTES} bytes"}
    ]
    assert "Line 1" in refused.value.detail and "nothing was imported" in refused.value.detail
    assert _peak_rss_bytes() - before < 4 * BLOCK_BYTES  # not the unbounded growth of before
    assert storage.count_calls("acme") == 0


def test_a_line_past_the_limit_inside_a_file_is_named(storage: Storage) -> None:
    storage.create_tenant("acme", "us")
    good = orjson.dumps(make_call("a", START))
    data = good + b"\n" + b'{"callId": "' + b"x" * 2000 + b'"}\n' + good + b"\n"
    with pytest.raises(InvalidRequest) as refused:
        import_lines(storage, "acme", io.BytesIO(data), workers=1, max_line_bytes=1000)
    assert refused.value.errors[0].field == "line 2"
    assert storage.count_calls("acme") == 0
    # Under the limit the same file is judged line by line as before.
    report = import_lines(
        storage, "acme", io.BytesIO(data), workers=1, skip_invalid=True, max_line_bytes=4096
    )
    assert (report.inserted, report.invalid) == (1, 1)


def first_too_long(block: bytes | str, first: int, limit: int) -> int | None:
    """The number of the first line of `block` longer than `limit`, line by line."""
    lines = block.split(b"\n" if isinstance(block, bytes) else "\n")  # type: ignore[arg-type]
    return next((first + n for n, line in enumerate(lines) if len(line) > limit), None)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=12),
    st.integers(0, 16),
    st.booleans(),
    st.booleans(),
)
def test_the_line_check_names_the_first_line_past_the_limit(
    lengths: list[int], limit: int, as_bytes: bool, trailing: bool
) -> None:
    """`_check_lines` looks closer only where a stretch of a block has no newline: it names the
    line a line-by-line look names, at every limit and around it."""
    block = "\n".join("x" * n for n in lengths) + ("\n" if trailing else "")
    data: bytes | str = block.encode() if as_bytes else block
    expected = first_too_long(data, 3, limit) if len(data) > limit else None
    if expected is None:
        bulk._check_lines(data, 3, limit)
        return
    with pytest.raises(InvalidRequest) as raised:
        bulk._check_lines(data, 3, limit)
    assert raised.value.errors[0].field == f"line {expected}"


def test_an_upload_past_the_limit_is_a_413_before_it_is_stored(
    storage: Storage, database: str
) -> None:
    settings = Settings(
        database=database, now=FROZEN_NOW, admin_token="secret", max_import_bytes=100_000
    )
    http = InProcessHTTP(create_app(settings, storage=storage))
    admin = {"Authorization": "Bearer secret"}
    try:
        created = http.post(
            "/admin/v1/tenants", json={"tenantId": "acme", "region": "us"}, headers=admin
        )
        assert created.status_code == 201, created.text
        lines = b"".join(orjson.dumps(make_call(f"c{i}", START + i)) + b"\n" for i in range(400))
        assert len(lines) > 100_000
        refused = http.post("/admin/v1/tenants/acme/import", content=lines, headers=admin)
        assert refused.status_code == 413, refused.text
        assert "100000 bytes" in refused.json()["detail"]
        assert storage.count_calls("acme") == 0
        small = lines[: lines.index(b"\n", 50_000) + 1]
        accepted = http.post("/admin/v1/tenants/acme/import", content=small, headers=admin)
        assert accepted.status_code == 200, accepted.text
    finally:
        http.close()


def test_a_directory_file_reports_at_most_the_first_errors_and_counts_them_all() -> None:
    bad = "kind,id,name\n" + "robot,1,x\n" * (MAX_REPORTED_ERRORS + 500)
    with pytest.raises(InvalidRequest) as refused:
        parse_csv(bad)
    assert len(refused.value.errors) == MAX_REPORTED_ERRORS
    assert refused.value.errors[0].field == "line 2"
    assert f"{MAX_REPORTED_ERRORS + 500} invalid lines" in refused.value.detail
    assert f"the first {MAX_REPORTED_ERRORS}" in refused.value.detail


def test_an_unreadable_special_file_is_one_line_of_error(storage: Storage, database: str) -> None:
    storage.create_tenant("acme", "us")
    # Reading /proc/self/mem at offset 0 (never mapped) fails with EIO.
    result = CliRunner().invoke(
        main, ["import", "--tenant", "acme", "--database", database, "/proc/self/mem"]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "Error: /proc/self/mem cannot be read: Input/output error; nothing was imported."
    ]


def test_the_admin_api_reads_the_line_limit_from_its_settings(
    storage: Storage, database: str
) -> None:
    settings = Settings(
        database=database, now=FROZEN_NOW, admin_token="secret", max_line_bytes=1000
    )
    http = InProcessHTTP(create_app(settings, storage=storage))
    admin = {"Authorization": "Bearer secret"}
    try:
        created = http.post(
            "/admin/v1/tenants", json={"tenantId": "acme", "region": "us"}, headers=admin
        )
        assert created.status_code == 201, created.text
        line = orjson.dumps(make_call("a", START, callerName="x" * 2000)) + b"\n"
        refused = http.post("/admin/v1/tenants/acme/import", content=line, headers=admin)
        assert refused.status_code == 400, refused.text
        assert refused.json()["errors"] == [
            {"field": "line 1", "message": "is longer than 1000 bytes"}
        ]
    finally:
        http.close()


@pytest.mark.parametrize(
    ("declared", "status"),
    [(b"\xb2", None), (b"\xb9\xb2", None), (b"1" * 5000, 413), (b"99999999999999999999", 413)],
    ids=["superscript-2", "superscript-12", "5000-digits", "20-digits"],
)
def test_a_content_length_of_any_digits_is_no_server_error(
    storage: Storage, database: str, declared: bytes, status: int | None
) -> None:
    # "²" is a digit to `isdigit` and not to `int`; 5000 digits are past `int`'s limit. The
    # HTTP server refuses both before the app; an app served otherwise reads them here.
    settings = Settings(database=database, now=FROZEN_NOW, admin_token="secret")
    http = InProcessHTTP(create_app(settings, storage=storage))
    admin = {"Authorization": "Bearer secret"}
    try:
        created = http.post("/admin/v1/tenants", json={"tenantId": "acme", "region": "us"},
                            headers=admin)  # fmt: skip
        key, token = created.json()["apiKey"], created.json()["token"]
        line = orjson.dumps(make_call("c1", START)) + b"\n"
        for path, body, headers in [
            ("/admin/v1/tenants/acme/import", line, admin),
            ("/customerexperience/v1/recentCallData/us", b'{"tenantId": "acme"}',
             {"8x8-apikey": key, "token": token, "Content-Type": "application/json"}),
            ("/customerexperience/v1/calls/us/freeswitch", b"{}",
             {"8x8-apikey": key, "token": token, "Content-Type": "application/json"}),
        ]:  # fmt: skip
            sent = [*headers.items(), ("Content-Length", declared)]
            answer = http.post(path, content=body, headers=sent)
            assert answer.status_code < 500, (path, answer.text)
            if status is not None:
                assert answer.status_code == status, (path, answer.text)
    finally:
        http.close()
