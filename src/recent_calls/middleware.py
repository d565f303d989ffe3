"""Security headers on every answer, without overriding what a view chose for itself.

Every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
`X-Frame-Options: DENY`. API answers (JSON and problem documents) also get
`Cache-Control: no-store` (call data must not sit in shared or browser caches) and a
Content-Security-Policy that allows nothing, since a JSON answer never needs to load anything.
A header the view already set wins: the web page keeps its own CSP and Cache-Control, and the
API docs page (which loads its scripts) gets no CSP from here.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERY_ANSWER = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
API_ANSWER = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
API_MEDIA_TYPES = ("application/json", "application/problem+json")


def _is_api_answer(headers: MutableHeaders) -> bool:
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type in API_MEDIA_TYPES


class SecurityHeaders:
    """ASGI middleware that adds the headers above where they are missing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                wanted = dict(EVERY_ANSWER)
                if _is_api_answer(headers):
                    wanted.update(API_ANSWER)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
