"""The guarded HTTP client: the one place ingestion makes outbound HTTP requests.

:func:`fetch_url` (and :class:`GuardedClient` for several URLs, e.g. a crawl) gives these
promises, each proven by ``tests/test_sources_http.py``:

- only ``http``/``https``; hosts checked by :mod:`pipeline.sources.netguard` from the URL text
  and again at connect time, where the address validated is the address dialled (no DNS
  rebinding window);
- redirects followed by hand, every hop re-checked, at most ``url_max_redirects`` hops;
  credentials from the URL are sent only to the URL's own origin and cookies are never kept;
- one total deadline (``url_timeout_seconds``) over connect, redirects and the body, so a server
  that trickles bytes cannot hold a worker; a byte budget counted in *decoded* bytes, decoded by
  bounded steps, so a gzip bomb stops at the cap;
- ``trust_env=False``: proxy variables, ``.netrc`` and ``SSL_CERT_FILE`` are ignored.

Errors are ``SourceError`` with codes ``url_scheme_forbidden``, ``url_blocked``, ``url_invalid``,
``too_many_redirects``, ``fetch_timeout`` (transient), ``source_too_large`` and ``fetch_failed``
(transient for connection errors, 408, 429 and 5xx).
"""

from __future__ import annotations

import base64
import functools
import ssl
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from core.errors import SourceError
from core.settings import Settings
from core.types import Document
from pipeline.sources.decoding import decoders, through
from pipeline.sources.netguard import AddressPolicy, GuardedBackend, Target

USER_AGENT = "IntajBot/0.1 (+knowledge ingestion)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_TIMEOUTS = (httpx.TimeoutException, httpcore.TimeoutException)
_NETWORK = (httpx.TransportError, httpcore.NetworkError, httpcore.ProtocolError)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs ~0.1 s. ``trust_env=False`` ignores
    ``SSL_CERT_FILE``/``SSLKEYLOGFILE``."""
    return httpx.create_ssl_context(trust_env=False)


class _Stream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response):
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


class _Transport(httpx.BaseTransport):
    """httpx on top of an httpcore pool whose network backend is the guard."""

    def __init__(self, policy: AddressPolicy):
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            network_backend=GuardedBackend(policy),
            max_connections=4,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        )
        response = self._pool.handle_request(
            httpcore.Request(
                request.method,
                url,
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_Stream(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _document_name(url: str) -> str:
    parts = urlsplit(url)
    last = unquote(parts.path.rstrip("/").rpartition("/")[2])
    return last or parts.hostname or "page"


class GuardedClient:
    """A session of guarded fetches sharing one connection pool. Use as a context manager."""

    def __init__(self, settings: Settings):
        self.policy = AddressPolicy.from_entries(settings.url_allow_hosts)
        self.timeout = settings.url_timeout_seconds
        self.max_bytes = settings.url_max_bytes
        self.max_redirects = settings.url_max_redirects
        self._client = httpx.Client(
            transport=_Transport(self.policy),
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def fetch(self, url: str, *, max_bytes: int | None = None) -> Document:
        """GET ``url`` under the policy; the Document's ``url`` is the final URL."""
        budget = min(max_bytes or self.max_bytes, self.max_bytes)
        deadline = time.monotonic() + self.timeout
        shown = _strip_userinfo(url)  # messages never carry the URL's credentials
        try:
            return self._fetch(url, budget, deadline)
        except httpx.InvalidURL as e:
            raise SourceError(f"{shown!r} is not a valid URL: {e}", code="url_invalid") from e
        except _TIMEOUTS as e:
            raise _timeout(shown) from e
        except _NETWORK as e:
            raise SourceError(
                f"could not fetch {shown}: {e or type(e).__name__}; check the URL or try again"
                " later",
                code="fetch_failed",
                transient=True,
            ) from e

    def _fetch(self, url: str, budget: int, deadline: float) -> Document:
        first = self.policy.check_url(url)
        auth = _basic_auth(url)
        current = _strip_userinfo(url)
        for hop in range(self.max_redirects + 1):
            target = first if hop == 0 else self.policy.check_url(current)
            response = self._send(current, target, first, auth, deadline)
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    current = _strip_userinfo(urljoin(current, location.strip()))
                    continue
                if response.status_code >= 400:
                    raise HTTPStatusError(current, response.status_code)
                data = _read_body(response, url=current, budget=budget, deadline=deadline)
            finally:
                response.close()
            content_type = response.headers.get("content-type", "")
            mime = content_type.split(";")[0].strip().lower() or None
            return Document(data=data, name=_document_name(current), mime=mime, url=current)
        raise SourceError(
            f"{_strip_userinfo(url)} redirected more than {self.max_redirects} times"
            " (INTAJ_URL_MAX_REDIRECTS)",
            code="too_many_redirects",
        )

    def _send(
        self, url: str, target: Target, first: Target, auth: str | None, deadline: float
    ) -> httpx.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(url)
        headers = {"Authorization": auth} if auth and target.origin == first.origin else {}
        request = httpx.Request(
            "GET", url, headers=headers, extensions={"timeout": _timeout_ext(remaining)}
        )
        return self._client.send(request, stream=True)


def _timeout_ext(seconds: float) -> dict[str, Any]:
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def _read_body(response: httpx.Response, *, url: str, budget: int, deadline: float) -> bytes:
    length = response.headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > budget:
        raise _too_large(url, budget, f"it declares {length} bytes")
    stages = decoders(response.headers.get_list("content-encoding", split_commas=True))
    body = bytearray()
    for raw in response.iter_raw():
        for piece in through(stages, raw):
            body += piece
            if len(body) > budget:
                raise _too_large(url, budget, "the decoded body passed it")
            if time.monotonic() > deadline:
                raise _timeout(url)
        if time.monotonic() > deadline:
            raise _timeout(url)
    return bytes(body)


def _basic_auth(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return urlunsplit(parts._replace(fragment=""))
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], fragment=""))


def _timeout(url: str) -> SourceError:
    return SourceError(
        f"fetching {url} took longer than the limit (INTAJ_URL_TIMEOUT_SECONDS)",
        code="fetch_timeout",
        transient=True,
    )


def _too_large(url: str, budget: int, why: str) -> SourceError:
    return SourceError(
        f"{url} is over the limit of {budget} bytes ({why}); raise INTAJ_URL_MAX_BYTES"
        " or split the document",
        code="source_too_large",
    )


class HTTPStatusError(SourceError):
    """An HTTP error status (``code="fetch_failed"``), with the status kept in ``status``."""

    def __init__(self, url: str, status: int):
        super().__init__(
            f"{url} answered HTTP {status}; check the URL is public and reachable",
            code="fetch_failed",
            transient=status in TRANSIENT_STATUSES or status >= 500,
        )
        self.status = status


def fetch_url(url: str, *, settings: Settings, max_bytes: int | None = None) -> Document:
    """Fetch one URL through the guard (see the module docstring for what is promised)."""
    AddressPolicy.from_entries(settings.url_allow_hosts).check_url(url)  # refuse cheaply
    with GuardedClient(settings) as client:
        return client.fetch(url, max_bytes=max_bytes)


class HttpStorage:
    """``http(s)://`` data sources: read-only, each read a guarded fetch."""

    scheme = "http"

    def __init__(self, settings: Settings):
        self.settings = settings

    def read(self, key: str, *, max_bytes: int) -> Document:
        return fetch_url(key, settings=self.settings, max_bytes=max_bytes)

    def write(self, key: str, data: bytes) -> str:
        raise SourceError(
            "URL sources are read-only: store uploads under a storage path instead",
            code="read_only",
        )

    def delete(self, key: str) -> None:
        """Nothing is stored for a URL source, so there is nothing to delete."""
