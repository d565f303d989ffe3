"""The retrying transport under every client of a Recent Calls server (the API and the admin).

Every request is retried on connection errors and timeouts, on 5xx answers, and on 429
answers (after the `Retry-After` they ask for, up to `max_retry_after` seconds), at most
`retries` times, with exponential backoff and jitter between attempts. A request that is not
safe to repeat (`idempotent=False`) is retried only when the server cannot have acted on it:
no connection was made, or the answer was 429 or 503. A streamed body is never retried.
Error answers raise the `APIError` of their status (see `errors`).

An answer's body is read with two bounds, whatever the server does: at most
`max_response_bytes` (decoded), and within `response_deadline_s` of the request in all (a
server that sends a byte every few seconds never trips a per-read timeout).
"""

from __future__ import annotations

import functools
import random
import ssl
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
MAX_RESPONSE_BYTES = 64 << 20
RESPONSE_DEADLINE_S = 120.0
# Describe the body as it is once decoded: it is handed on decoded.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ResponseDeadline(httpx.ReadTimeout):
    """The answer's body did not arrive in full within the response deadline."""


class ResponseTooLarge(Exception):
    """The answer's body is larger than the client accepts."""


def _request_of(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # an error raised outside of a request has none
        return None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots, SSL_CERT_FILE and SSL_CERT_DIR honoured),
    made once per process: making it loads the CA bundle, some 30 ms, for every client."""
    return httpx.create_ssl_context()


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
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        response_deadline_s: float = RESPONSE_DEADLINE_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_response_bytes = max_response_bytes
        self.response_deadline_s = response_deadline_s
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
            verify=tls_context(),
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
                response = self._bounded(
                    self.http.build_request(
                        method, path, content=content, params=params, headers=headers
                    )
                )
            except ResponseTooLarge as exc:
                raise TransportError(str(exc)) from None
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

    def _bounded(self, request: httpx.Request) -> httpx.Response:
        """The answer to `request`, its body read within the size and time bounds."""
        deadline = time.monotonic() + self.response_deadline_s
        streamed = self.http.send(request, stream=True)
        try:
            body = bytearray()
            for chunk in streamed.iter_bytes():
                body += chunk
                if len(body) > self.max_response_bytes:
                    raise ResponseTooLarge(
                        f"the answer from {self.base_url} is larger than "
                        f"{self.max_response_bytes} bytes (RECENT_CALLS_MAX_RESPONSE_BYTES)"
                    )
                if time.monotonic() > deadline:
                    raise ResponseDeadline(
                        f"the answer did not arrive in full within {self.response_deadline_s} s "
                        "(RECENT_CALLS_RESPONSE_DEADLINE_S)",
                        request=request,
                    )
        finally:
            streamed.close()
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k not in _BODY_HEADERS]
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=bytes(body),
            request=request,
            extensions=streamed.extensions,
        )

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
