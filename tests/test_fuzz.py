"""Fuzzing (a bounded share of bench/fuzz.py): no 5xx, every answer conforms to our document."""

from __future__ import annotations

import pytest
from schemathesis import GenerationMode

from bench.fuzz import fuzz_ours, fuzz_vendor

from .calls import make_call
from .support import ServerFactory

MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.fixture
def fuzzed(make_server: ServerFactory) -> tuple[str, object]:
    server = make_server(rate_limit_per_s=0)
    calls = [make_call(f"c{i}", 1710000000000 - i * 3_600_000) for i in range(50)]
    credential = server.tenant("fuzzco", "us", calls)
    server.tenant("otherco", "uk", calls)
    return server.url, credential


def test_our_own_document_finds_no_5xx_and_no_nonconforming_answer(
    fuzzed: tuple[str, object],
) -> None:
    url, credential = fuzzed
    report = fuzz_ours(url, credential, examples=12, modes=MODES)  # type: ignore[arg-type]
    assert report.requests >= 100
    assert 200 in report.statuses and 400 in report.statuses


def test_the_vendors_document_pointed_at_us_finds_no_5xx(fuzzed: tuple[str, object]) -> None:
    url, credential = fuzzed
    report = fuzz_vendor(url, credential, examples=50, modes=MODES)  # type: ignore[arg-type]
    assert report.requests >= 100
    assert 400 in report.statuses
