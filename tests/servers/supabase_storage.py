"""A fake Supabase Storage REST API on 127.0.0.1: the object endpoints our backend uses.

It checks ``Authorization: Bearer <key>`` and ``apikey: <key>`` on every request and answers a
missing object the way Supabase has (HTTP 400 with ``"statusCode": "404"`` in the body).
Requests are recorded in ``fake.requests`` as ``(method, path, headers)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from tests.servers.local import QuietHandler

PREFIX = "/storage/v1/object/"


class _Handler(QuietHandler):
    server: _Server

    def _start(self) -> tuple[str, str] | None:
        fake = self.server.fake
        fake.requests.append((self.command, self.path, dict(self.headers.items())))
        key = fake.service_key
        if (
            self.headers.get("Authorization") != f"Bearer {key}"
            or self.headers.get("apikey") != key
        ):
            self._json(400, {"statusCode": "403", "error": "Unauthorized", "message": "bad jwt"})
            return None
        path = unquote(urlsplit(self.path).path)
        if not path.startswith(PREFIX):
            self._json(404, {"statusCode": "404", "error": "not_found", "message": "no route"})
            return None
        bucket, _, name = path.removeprefix(PREFIX).partition("/")
        return bucket, name

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self) -> None:
        where = self._start()
        if where is None:
            return
        data = self.server.fake.objects.get(where)
        if data is None:
            self._json(
                400, {"statusCode": "404", "error": "not_found", "message": "Object not found"}
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        where = self._start()
        if where is None:
            return
        data = self._body()
        exists = where in self.server.fake.objects
        if exists and self.headers.get("x-upsert") != "true":
            self._json(400, {"statusCode": "409", "error": "Duplicate", "message": "exists"})
            return
        self.server.fake.objects[where] = data
        self._json(200, {"Key": "/".join(where)})

    do_PUT = do_POST

    def do_DELETE(self) -> None:
        where = self._start()
        if where is None:
            return
        bucket, _ = where
        prefixes = json.loads(self._body() or b"{}").get("prefixes", [])
        removed = [
            p for p in prefixes if self.server.fake.objects.pop((bucket, p), None) is not None
        ]
        self._json(200, [{"name": p, "bucket_id": bucket} for p in removed])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSupabaseStorage


class FakeSupabaseStorage:
    def __init__(self, service_key: str):
        self.service_key = service_key
        self.objects: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"


@contextmanager
def running_supabase(service_key: str) -> Iterator[FakeSupabaseStorage]:
    fake = FakeSupabaseStorage(service_key)
    thread = threading.Thread(target=fake._server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake._server.shutdown()
        fake._server.server_close()
