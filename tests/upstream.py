"""A hostile upstream for sync and export tests: a raw HTTP/1.1 socket server on loopback.

Each request's JSON body goes to a handler, which writes whatever answer it likes on the
socket (a page, a huge body, a drip); every answer closes its connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.calls import make_call

Handler = Callable[[dict[str, Any], socket.socket], None]


def item(call_id: str, start_ms: int) -> dict[str, Any]:
    """A recentCallData `data` item (in UTC) of a plain call."""
    call = make_call(call_id, start_ms)
    del call["startTime"]
    call["callDate"] = datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%m/%d/%Y %H:%M:%S")
    return call


def page(items: list[dict[str, Any]], hits: int, number: int = 1) -> bytes:
    """A recentCallData answer, oldest first in UTC as sync asks."""
    document = {
        "hits": hits,
        "page": number,
        "rows": len(items),
        "timezone": "UTC",
        "sortColumn": "callDate",
        "sortOrder": "asc",
        "data": items,
    }
    return orjson.dumps(document)


def answer(conn: socket.socket, body: bytes, status: str = "200 OK") -> None:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    conn.sendall(head.encode() + body)


def _read_request(conn: socket.socket) -> dict[str, Any]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return {}
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    try:
        parsed: dict[str, Any] = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:  # an upload (raw or chunked), not a query: keep its bytes
        return {"raw": body}
    return parsed


@contextmanager
def upstream(handler: Handler) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve `handler` on a free loopback port; yield its URL and the request bodies seen."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    body = _read_request(conn)
                    seen.append(body)
                    handler(body, conn)
                except OSError:  # the client gave up: that is what some tests want
                    pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        stop.set()
        thread.join(timeout=30)
        listener.close()
