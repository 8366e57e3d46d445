"""A hostile-and-friendly web site on 127.0.0.1 (stdlib ``http.server``), one thread per request.

Static pages are set with :meth:`Site.page`; the built-in routes serve the §6.2 faults:

    /redirect?to=URL[&status=302]   a redirect to URL
    /chain/N                        N redirects in a row, then a page
    /infinite                       an endless fast body
    /trickle                        one byte every 0.2 s, forever
    /huge-length                    ``Content-Length: 10**12``
    /gzip-bomb[?layers=2]           gzip of 64 MB of zeros (per layer)
    /status/N                       an empty reply with status N

Every request is recorded in ``site.hits`` as ``(path, headers)``.
"""

from __future__ import annotations

import functools
import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Headers = dict[str, str]


@functools.cache
def gzip_zeros(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(z.compress(block) for _ in range(size // len(block))) + z.flush()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.site.hits.append((self.path, dict(self.headers.items())))
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        site = self.server.site
        try:
            if parts.path in site.pages:
                status, headers, body = site.pages[parts.path]
                self.reply(status, headers, body)
            else:
                route = parts.path.strip("/").split("/")[0]
                getattr(self, "route_" + route.replace("-", "_"), self.not_found)(parts.path, query)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass

    def reply(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, headers: Headers, chunks: Iterator[bytes], pause: float = 0.0) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        stop = time.monotonic() + 30
        for chunk in chunks:
            if time.monotonic() > stop or self.server.site.closing:
                return
            self.wfile.write(chunk)
            self.wfile.flush()
            if pause:
                time.sleep(pause)

    def not_found(self, path: str, query: dict[str, str]) -> None:
        self.reply(404, {"Content-Type": "text/plain"}, b"not found")

    def route_redirect(self, path: str, query: dict[str, str]) -> None:
        self.reply(int(query.get("status", "302")), {"Location": query["to"]})

    def route_chain(self, path: str, query: dict[str, str]) -> None:
        n = int(path.rsplit("/", 1)[1])
        if n <= 0:
            self.reply(200, {"Content-Type": "text/plain"}, b"end of chain")
        else:
            self.reply(302, {"Location": f"/chain/{n - 1}"})

    def route_infinite(self, path: str, query: dict[str, str]) -> None:
        block = b"a" * 65536
        self.stream({"Content-Type": "text/plain"}, iter(lambda: block, None))

    def route_trickle(self, path: str, query: dict[str, str]) -> None:
        self.stream({"Content-Type": "text/plain"}, iter(lambda: b"x", None), pause=0.2)

    def route_huge_length(self, path: str, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        self.wfile.write(b"a" * 1024)

    def route_gzip_bomb(self, path: str, query: dict[str, str]) -> None:
        layers = int(query.get("layers", "1"))
        body = self.server.site.bomb()
        for _ in range(layers - 1):
            body = gzip.compress(body)
        encoding = ", ".join(["gzip"] * layers)
        self.reply(200, {"Content-Type": "text/plain", "Content-Encoding": encoding}, body)

    def route_status(self, path: str, query: dict[str, str]) -> None:
        self.reply(int(path.rsplit("/", 1)[1]), {"Content-Type": "text/plain"}, b"")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: Site


class Site:
    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, Headers, bytes]] = {}
        self.hits: list[tuple[str, Headers]] = []
        self.closing = False
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self
        self.port: int = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def page(self, path: str, body: str | bytes, content_type: str = "text/html") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = (200, {"Content-Type": content_type}, data)

    def bomb(self) -> bytes:
        return gzip_zeros(64 * 1024 * 1024)

    def paths(self) -> list[str]:
        return [path for path, _ in self.hits]

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.closing = True
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_site(setup: Callable[[Site], None] | None = None) -> Iterator[Site]:
    site = Site()
    if setup:
        setup(site)
    site.start()
    try:
        yield site
    finally:
        site.stop()
