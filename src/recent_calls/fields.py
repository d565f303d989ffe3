"""The facts every part shares: regions, windows, filter families, sort columns, the call's keys.

Defined once here and derived everywhere else: the request model, the filter compiler, the
response renderer, the page's schema.json, the CLI's options and the client. Pure and
dependency-free, so the client can share it without loading any server module. Where a second
spelling must stay (a `Literal` for type checkers, the msgspec fast path, a test oracle), a test
in tests/test_fields.py pins the two together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REGIONS = ("us", "uk")

# What a credential may do: `read` the tenant's calls (data, stats, facets, export, directory, the
# console) and `push` calls in. A credential holds one or both.
SCOPES = ("read", "push")
"""The vendor's platforms: `uk` keeps a UK/EU tenant's data there."""

DURATIONS = ("today", "yesterday", "week", "month", "allhistory")
"""The named windows of a request's `duration`."""

DURATION_UNITS = ("sec", "min")
"""The units of a duration range filter ("sec:X,Y", "min:X,Y")."""

SORT_ORDERS = ("asc", "desc")

SORT_COLUMNS = (
    "callDate",
    "callDuration",
    "agentCallHandlingDuration",
    "timeInIVR",
    "holdDuration",
    "maximumHoldDuration",
    "waitTime",
    "abandonTime",
    "muteDuration",
    "transferCount",
    "callerName",
    "callerNumber",
    "queueId",
    "agentId",
)
"""What a request may sort by."""

LIST_FILTERS = ("tenantAgents", "tenantQueues", "tenantGroups", "tenantChannels")
"""Filters that take a list of ids."""
COUNT_FILTERS = ("agentHoldCount", "agentMuteCount", "transferCount")
"""Filters that take a count range, "range:X,Y"."""
DURATION_FILTERS = (
    "callDuration",
    "timeInQueue",
    "timeInIVR",
    "agentCallDuration",
    "agentHoldDuration",
)
"""Filters that take a duration range, "sec:X,Y" or "min:X,Y"."""

OUTCOMES = ("answered", "abandoned", "other")
"""Extension: what became of a call, each call exactly one (query/filters.py OUTCOME_CONDITIONS)."""

DATA_KEYS = (
    "callDuration",
    "queueId",
    "agentCallHandlingDuration",
    "callDate",
    "agentId",
    "muteDuration",
    "scheduleHours",
    "timeInIVR",
    "agentGroup",
    "transferCount",
    "postCallSurvey",
    "callType",
    "callerName",
    "dialedNumber",
    "callDateOnly",
    "hungupBy",
    "holdDuration",
    "voiceComment",
    "callId",
    "abandonTime",
    "callerNumber",
    "callSubType",
    "totalScore",
    "transactionId",
    "destinationNumber",
    "voiceCommentFileNames",
    "tenantId",
    "maximumHoldDuration",
    "waitTime",
    "callTime",
    "callerPhoneNumber",
)
"""The keys of a response `data` item, in the reference's order."""

INTEGER_KEYS = frozenset({"muteDuration"})
"""The one `data` key the reference answers as a JSON number; every other is a string."""

CSV_COLUMNS = (*DATA_KEYS, "startTime")
"""The columns of an exported CSV file: a `data` item's keys, then the start in epoch ms."""

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def option_name(request_name: str) -> str:
    """A request field's CLI and client spelling: `timeInQueue` -> `time_in_queue`."""
    return _CAMEL.sub("_", request_name).lower()


# A spreadsheet runs a cell that starts with one of these as a formula; such cells get a
# leading single quote, as OWASP's "CSV Injection" page advises.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One CSV cell's text: "" for None, and never a formula."""
    text = "" if value is None else str(value)
    # Quotes already before a formula get one more, so that `csv_uncell` gives back the text.
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def csv_uncell(cell: str) -> str:
    """The text a `csv_cell` was made of (for files this project reads back)."""
    return cell[1:] if cell[:1] == "'" and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def csv_row(line: Mapping[str, Any]) -> list[str]:
    """The CSV cells (CSV_COLUMNS order) of an import line: a `data` item plus `startTime`.

    The one definition of an exported CSV row, used by `recent-calls export --format csv`, the
    recentCallExport endpoint and (its cells) the directory export.
    """
    return [csv_cell(line.get(key)) for key in CSV_COLUMNS]
