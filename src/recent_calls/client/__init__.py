"""A typed client for any Recent Calls server: this project's, or the vendor's.

    from recent_calls.client import Query, RecentCallsClient, count_range, duration_range

    with RecentCallsClient() as client:  # RECENT_CALLS_BASE_URL, _API_KEY, _TOKEN, _REGION
        query = Query(duration="week", timezone="Europe/London", call_duration=duration_range(60))
        for call in client.iter_calls("acmecorp01", query):
            print(call.call_id, call.call_date, call.call_duration)

By concept: `query` (what to ask for), `models` (what comes back), `errors` (the exception
tree), `settings` (where to connect, from RECENT_CALLS_* variables), `transport` (timeouts
and retries) and `client` (RecentCallsClient). The names below are the public ones.
"""

from recent_calls.client.client import RecentCallsClient
from recent_calls.client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConfigurationError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
    UnexpectedResponse,
    UnsupportedMediaTypeError,
)
from recent_calls.client.models import CALL_KEYS, Call, Page, PushResult, parse_call
from recent_calls.client.query import (
    Duration,
    Query,
    SortOrder,
    count_range,
    duration_range,
    epoch_ms,
)
from recent_calls.client.settings import DEFAULT_BASE_URL, ClientSettings, Region
from recent_calls.errors import FieldError

__all__ = [
    "CALL_KEYS",
    "DEFAULT_BASE_URL",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "Call",
    "ClientError",
    "ClientSettings",
    "ConfigurationError",
    "Duration",
    "FieldError",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PushResult",
    "Query",
    "RateLimitError",
    "RecentCallsClient",
    "Region",
    "ServerError",
    "SortOrder",
    "TransportError",
    "UnexpectedResponse",
    "UnsupportedMediaTypeError",
    "count_range",
    "duration_range",
    "epoch_ms",
    "parse_call",
]
