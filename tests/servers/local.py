"""What every local stand-in for an outside service shares: a JSON reply, and running its
``ThreadingHTTPServer`` on 127.0.0.1 in a thread for the length of a ``with`` block."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    data: Any,
    headers: dict[str, str] | None = None,
) -> None:
    payload = json.dumps(data).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


class QuietHandler(BaseHTTPRequestHandler):
    """A stand-in's request handler: HTTP/1.1 (keep-alive, as the real services), no access
    log on the test's stderr, and the request's JSON body."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")


class InThread:
    """A stand-in's start and stop: its ``_server`` served by a daemon thread."""

    _server: ThreadingHTTPServer

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Startable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Startable)


@contextmanager
def running(server: S) -> Iterator[S]:
    """``server`` started, and stopped when the block ends."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
