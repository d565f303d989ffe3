"""The facts every part shares: regions, windows, filter families, sort columns, the call's keys.

Defined once here and derived everywhere else: the request model, the filter compiler, the
response renderer, the page's schema.json, the CLI's options and the client. Pure and
dependency-free, so the client can share it without loading any server module. Where a second
spelling must stay (a `Literal` for type checkers, the msgspec fast path, a test oracle), a test
in tests/test_fields.py pins the two together.
"""

from __future__ import annotations

import re

REGIONS = ("us", "uk")
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

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def option_name(request_name: str) -> str:
    """A request field's CLI and client spelling: `timeInQueue` -> `time_in_queue`."""
    return _CAMEL.sub("_", request_name).lower()
