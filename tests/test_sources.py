"""What the telephony readers share: reading a file a block of lines at a time (`file_blocks`)
gives `file_lines`' lines and refusals, whatever the bytes, and says truly which are plain."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recent_calls.errors import InvalidRequest
from recent_calls.ingest.sources import PLAIN_LONGEST, file_blocks, file_lines

MAX_LINE = 64

# Bytes that make a block not plain or cut it: line ends, CR, NUL, bytes that are not UTF-8,
# the parts of multi-byte characters, and long runs.
PIECES = st.sampled_from(
    [b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xc3", b"\xa9", "é".encode(), "𝄞".encode(),
     "\u2028".encode(), b"|", b'"', b"a" * 30, b"b" * (PLAIN_LONGEST + 1)]
)  # fmt: skip


def read(read_file: object, path: Path, *args: int) -> tuple[list[tuple[int, str]], str | None]:
    """The numbered lines (without line ends) a read gives before it stops, and its refusal."""
    got: list[tuple[int, str]] = []
    try:
        if read_file is file_lines:
            got.extend(
                (number, line.removesuffix("\n")) for number, line in file_lines(path, *args)
            )
        else:
            for block in file_blocks(path, *args):
                got.extend(enumerate(block.lines, block.first))
    except InvalidRequest as exc:
        return got, str(exc)
    return got, None


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.binary(max_size=40) | PIECES, max_size=40).map(b"".join),
    st.sampled_from([1, 2, 7, 64, 1 << 20]),
    st.sampled_from([MAX_LINE, 4 * PLAIN_LONGEST]),
)
def test_blocks_hold_the_lines_file_lines_reads(
    tmp_path: Path, data: bytes, size: int, max_line: int
) -> None:
    path = tmp_path / "log"
    path.write_bytes(data)
    lines, refusal = read(file_lines, path, max_line)
    blocks, block_refusal = read(file_blocks, path, max_line, size)
    assert block_refusal == refusal
    if refusal is None:
        assert blocks == lines
    else:  # the lines before the long one, at most (a block is refused whole)
        assert blocks == lines[: len(blocks)]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.binary(max_size=40) | PIECES, max_size=40).map(b"".join),
    st.sampled_from([1, 7, 64]),
)
def test_a_plain_block_holds_only_utf8_without_nul_in_short_lines(
    tmp_path: Path, data: bytes, size: int
) -> None:
    path = tmp_path / "log"
    path.write_bytes(data)
    for block in file_blocks(path, 1 << 20, size):
        text = "\n".join(block.lines)
        holds = "\x00" not in text and max(map(len, block.lines)) <= PLAIN_LONGEST
        try:
            text.encode()
        except UnicodeEncodeError:  # a surrogate: bytes that were not UTF-8
            holds = False
        assert block.plain == holds


def test_a_line_without_an_end_longer_than_the_limit_is_refused_before_it_is_read_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long"
    path.write_bytes(b"ok\n" + b"x" * 5000)
    blocks = file_blocks(path, 1000, size=512)
    assert next(blocks).lines == ["ok"]
    with pytest.raises(InvalidRequest, match="long line 2 is longer than 1000 bytes"):
        next(blocks)
    # A line that never ends (a corrupt log, or a device): refused all the same.
    with pytest.raises(InvalidRequest, match="line 1 is longer than 1000 bytes"):
        next(file_blocks(Path("/dev/zero"), 1000, size=512))


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="cannot be read"):
        list(file_blocks(tmp_path, 100))
