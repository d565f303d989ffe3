"""fields.py is the one definition: every second spelling of a fact is pinned to it here."""

from __future__ import annotations

import typing

import pytest

from recent_calls import fields
from recent_calls.api.render import CallItem
from recent_calls.cli.transfer import FILTERS
from recent_calls.client.models import CALL_KEYS
from recent_calls.client.query import Duration, Outcome
from recent_calls.ingest.records import FastCall, ImportedCall
from recent_calls.query import filters
from recent_calls.query.responses import CallData

# What a stored call carries beyond a response item, and what a response derives from others.
IMPORT_ONLY = {"startTime", "agentHoldCount", "agentMuteCount", "sourceVersion"}
DERIVED_FOR_RESPONSE = {"callDateOnly", "callTime", "tenantId"}


def test_the_msgspec_fast_path_renders_exactly_the_data_keys_in_order() -> None:
    assert CallItem.__struct_fields__ == fields.DATA_KEYS
    hints = typing.get_type_hints(CallItem)
    numbers = {name for name in CallItem.__struct_fields__ if hints[name] is int}
    assert numbers == fields.INTEGER_KEYS


def test_the_openapi_model_of_a_call_has_the_data_keys_in_order() -> None:
    assert tuple(CallData.model_fields) == fields.DATA_KEYS
    integers = {
        name for name, info in CallData.model_fields.items() if info.annotation in (int, "int")
    }
    assert integers == fields.INTEGER_KEYS


def test_the_client_reads_the_same_keys() -> None:
    assert CALL_KEYS == fields.DATA_KEYS


def test_the_import_shape_is_a_response_item_plus_its_hidden_counts() -> None:
    imported = set(ImportedCall.model_fields)
    assert imported - set(fields.DATA_KEYS) == IMPORT_ONLY
    assert set(fields.DATA_KEYS) - imported == DERIVED_FOR_RESPONSE
    assert set(FastCall.__struct_fields__) == imported


def test_the_clients_duration_literal_spells_the_durations() -> None:
    assert typing.get_args(Duration) == fields.DURATIONS


def test_the_clients_outcome_literal_spells_the_outcomes() -> None:
    assert typing.get_args(Outcome) == fields.OUTCOMES


def test_the_filter_compiler_knows_every_filter_of_each_family() -> None:
    assert set(filters.COUNT_FILTERS) == set(fields.COUNT_FILTERS)
    assert set(filters.DURATION_FILTERS) == set(fields.DURATION_FILTERS)
    # A channel is the dialed number: the compiler matches it apart from the list columns.
    assert set(filters.LIST_FILTERS) == set(fields.LIST_FILTERS) - {"tenantChannels"}


def test_the_cli_has_an_option_for_every_count_and_duration_filter() -> None:
    assert [name for _, name, _ in FILTERS] == [
        fields.option_name(name) for name in (*fields.COUNT_FILTERS, *fields.DURATION_FILTERS)
    ]


@pytest.mark.parametrize(
    ("request_name", "option"),
    [
        ("timeInIVR", "time_in_ivr"),
        ("agentCallDuration", "agent_call_duration"),
        ("transferCount", "transfer_count"),
        ("callId", "call_id"),
    ],
)
def test_option_names_are_snake_case_with_acronyms_kept_whole(
    request_name: str, option: str
) -> None:
    assert fields.option_name(request_name) == option
