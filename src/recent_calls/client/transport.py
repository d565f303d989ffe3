"""The retrying transport under every client of a Recent Calls server (the API and the admin).

Every request is retried on connection errors and timeouts, on 5xx answers, and on 429
answers (after the `Retry-After` they ask for, up to `max_retry_after` seconds), at most
`retries` times, with exponential backoff and jitter between attempts. A request that is not
safe to repeat (`idempotent=False`) is retried only when the server cannot have acted on it:
no connection was made, or the answer was 429 or 503. A streamed body is never retried.
Error answers raise the `APIError` of their status (see `errors`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
import orjson

from recent_calls import __version__
from recent_calls.client.errors import TransportError, UnexpectedResponse, api_error, retry_after

USER_AGENT = f"recent-calls-client/{__version__}"
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_UNSERVED_STATUSES = frozenset({429, 503})  # the server says it did not act on the request
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout)  # the request never reached the server


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # an error raised outside of a request has none
        return None


class Transport:
    """An httpx client with the retry policy; one per server connection."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout: float | httpx.Timeout = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._jitter = random.Random()
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **headers},
        )

    def close(self) -> None:
        self.http.close()

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling * (0.5 + self._jitter.random() / 2)

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | Iterable[bytes] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """The success answer to one request, retried as the policy allows."""
        replayable = content is None or isinstance(content, bytes)
        attempt = 0
        while True:
            may_retry = replayable and attempt < self.retries
            try:
                response = self.http.request(
                    method, path, content=content, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                if not (may_retry and (idempotent or isinstance(exc, _UNSENT))):
                    raise TransportError(
                        f"no answer from {self.base_url} after {attempt + 1} attempts: "
                        f"{type(exc).__name__}: {exc}",
                        _request_of(exc),
                    ) from exc
                self._sleep(self._backoff_delay(attempt))
                attempt += 1
                continue
            status = response.status_code
            retried = _RETRIED_STATUSES if idempotent else _UNSERVED_STATUSES
            if status in retried and may_retry:
                wait = retry_after(response)
                if wait is None:
                    wait = self._backoff_delay(attempt)
                if wait <= self.max_retry_after:
                    self._sleep(wait)
                    attempt += 1
                    continue
            if status >= 400:
                raise api_error(response)
            return response

    def json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> tuple[Any, httpx.Response]:
        """The decoded JSON answer to a request with a JSON body (or none), and the answer."""
        content = None if body is None else orjson.dumps(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        response = self.request(
            method, path, content=content, params=params, headers=headers, idempotent=idempotent
        )
        return decode(response), response


def decode(response: httpx.Response) -> Any:
    """The answer's JSON document; UnexpectedResponse if the body is not JSON."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise UnexpectedResponse(
            f"the answer ({response.status_code}) is not JSON: {response.text[:200]!r}", response
        ) from None
