"""RecentCallsClient: the Recent Calls API, page by page or call by call, and pushes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from recent_calls.client.errors import ConfigurationError, MissingCredentials, UnexpectedResponse
from recent_calls.client.models import Call, Page, PushResult, page_of
from recent_calls.client.query import Query
from recent_calls.client.settings import ClientSettings
from recent_calls.client.transport import Transport

MAX_ROWS = 5000
PUSH_BATCH = 1000


def _settings(settings: ClientSettings | None, overrides: dict[str, Any]) -> ClientSettings:
    """`settings` (else the RECENT_CALLS_* variables), with the arguments given laid over it."""
    given = {name: value for name, value in overrides.items() if value not in (None, "")}
    try:
        if settings is None:
            return ClientSettings(**given)
        return ClientSettings(**{**settings.model_dump(), **given})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            f" (not {error['input']!r})"
            for error in exc.errors()
        )
        raise ConfigurationError(f"bad client settings: {problems}") from None


class RecentCallsClient:
    """A Recent Calls API client; arguments left out come from `settings`, by default a
    `ClientSettings()` read from the RECENT_CALLS_* variables.

    Every request goes through the retrying `Transport`: connection errors and timeouts, 5xx
    answers and 429 answers (after the `Retry-After` they ask for, up to `max_retry_after`
    seconds) are retried at most `retries` times, with exponential backoff and jitter.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        token: str | None = None,
        region: str | None = None,
        settings: ClientSettings | None = None,
        version: str = "v1",
        timeout: float | httpx.Timeout | None = None,
        retries: int | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        chosen = _settings(
            settings,
            {"base_url": base_url, "api_key": api_key, "token": token, "region": region}
            | {"retries": retries}
            | ({} if isinstance(timeout, httpx.Timeout) else {"timeout_s": timeout}),
        )
        if chosen.api_key is None or chosen.token is None:
            raise MissingCredentials(
                "an API key and a token are needed: pass api_key and token, or set "
                "RECENT_CALLS_API_KEY and RECENT_CALLS_TOKEN"
            )
        self.settings = chosen
        self.base_url = chosen.base_url.rstrip("/")
        self.region: str = chosen.region
        self.version = version
        self._transport = Transport(
            self.base_url,
            headers={
                "8x8-apikey": chosen.api_key.get_secret_value(),
                "token": chosen.token.get_secret_value(),
            },
            timeout=timeout if isinstance(timeout, httpx.Timeout) else chosen.timeout_s,
            retries=chosen.retries,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
            transport=transport,
            sleep=sleep,
            max_response_bytes=chosen.max_response_bytes,
            response_deadline_s=chosen.response_deadline_s,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> RecentCallsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RecentCallsClient({self.base_url!r}, region={self.region!r})"

    # -- the API ---------------------------------------------------------------------------

    def page(
        self, tenant_id: str, query: Query | None = None, *, page: int = 1, rows: int = 500
    ) -> Page:
        """One page of the tenant's calls matching `query`."""
        if not 1 <= rows <= MAX_ROWS:
            raise ValueError(f"rows must be 1..{MAX_ROWS}")
        body = (query or Query()).body(tenant_id, page, rows)
        path = f"/customerexperience/{self.version}/recentCallData/{self.region}"
        document, response = self._transport.json("POST", path, body)
        return page_of(document, response)

    def iter_pages(
        self, tenant_id: str, query: Query | None = None, *, rows: int = 1000, first_page: int = 1
    ) -> Iterator[Page]:
        """Every page from `first_page` on, until a page comes back with no data, the pages
        hold `hits` calls, or a page brings no call the page before did not (a server that
        ignores `page` would otherwise be asked forever)."""
        number = first_page
        previous: set[str] = set()
        while True:
            page = self.page(tenant_id, query, page=number, rows=rows)
            ids = {call.call_id for call in page.calls}
            if not ids or ids <= previous:
                return
            yield page
            if page.hits and (number - 1) * rows + len(page.calls) >= page.hits:
                return
            previous = ids
            number += 1

    def iter_calls(
        self, tenant_id: str, query: Query | None = None, *, rows: int = 1000
    ) -> Iterator[Call]:
        """Every matching call, page after page until the data runs out.

        When calls arrive during the walk, newer ones push older ones down a page; a call
        already given on the page before is not given again.
        """
        previous: set[str] = set()
        for page in self.iter_pages(tenant_id, query, rows=rows):
            for call in page.calls:
                if call.call_id not in previous:
                    yield call
            previous = {call.call_id for call in page.calls}

    def count(self, tenant_id: str, query: Query | None = None) -> int:
        """How many calls match `query` (the answer's `hits`)."""
        return self.page(tenant_id, query, rows=1).hits

    def push(
        self, tenant_id: str, calls: Iterable[Mapping[str, Any]], *, batch: int = PUSH_BATCH
    ) -> PushResult:
        """Push ended calls (import shape) in batches; each batch is atomic and idempotent."""
        path = f"/customerexperience/{self.version}/calls/{self.region}"
        received = inserted = replaced = 0
        chunk: list[Mapping[str, Any]] = []

        def send() -> None:
            nonlocal received, inserted, replaced
            document, response = self._transport.json(
                "POST", path, {"tenantId": tenant_id, "calls": chunk}
            )
            if not isinstance(document, dict):
                raise UnexpectedResponse("the push answer is not a JSON object", response)
            received += int(document.get("received", 0))
            inserted += int(document.get("inserted", 0))
            replaced += int(document.get("replaced", 0))

        for call in calls:
            chunk.append(call)
            if len(chunk) >= batch:
                send()
                chunk = []
        if chunk:
            send()
        return PushResult(received, inserted, replaced)
