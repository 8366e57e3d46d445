"""Supabase Storage through its REST API (``supabase://bucket/key``).

- read:   ``GET    {url}/storage/v1/object/{bucket}/{key}``
- write:  ``POST   {url}/storage/v1/object/{bucket}/{key}`` with ``x-upsert: true``
- delete: ``DELETE {url}/storage/v1/object/{bucket}`` with ``{"prefixes": [key]}``

Each request carries ``Authorization: Bearer <service key>`` and ``apikey: <service key>``.
``INTAJ_SUPABASE_URL`` is set by the operator, not by users, so these requests do not pass the
SSRF guard of :mod:`pipeline.sources.http`; they still ignore proxy variables and ``.netrc``
(``trust_env=False``) and never follow redirects, so the service key goes nowhere else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from core.errors import ConfigError, SourceError
from core.settings import Settings
from core.types import Document

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def split_supabase_path(path: str) -> tuple[str, str]:
    """``supabase://bucket/some/key`` -> ``("bucket", "some/key")``."""
    if not path.startswith("supabase://"):
        raise ConfigError(f"{path!r} is not a supabase://bucket/key path")
    bucket, _, key = path.removeprefix("supabase://").partition("/")
    if not bucket or not key:
        raise ConfigError(f"{path!r} needs both a bucket and a key: supabase://bucket/key")
    return bucket, key


class SupabaseStorage:
    scheme = "supabase"

    def __init__(self, settings: Settings):
        if not settings.supabase_url or not settings.supabase_service_key:
            raise ConfigError(
                "supabase:// sources need INTAJ_SUPABASE_URL and INTAJ_SUPABASE_SERVICE_KEY"
            )
        key = settings.supabase_service_key.get_secret_value()
        self._base = settings.supabase_url.rstrip("/") + "/storage/v1/object"
        self._headers = {"Authorization": f"Bearer {key}", "apikey": key}

    def _client(self) -> httpx.Client:
        return httpx.Client(
            headers=self._headers, timeout=TIMEOUT, trust_env=False, follow_redirects=False
        )

    def _url(self, bucket: str, name: str = "") -> str:
        url = f"{self._base}/{quote(bucket, safe='')}"
        return f"{url}/{quote(name, safe='/')}" if name else url

    def read(self, key: str, *, max_bytes: int) -> Document:
        bucket, name = split_supabase_path(key)
        try:
            with self._client() as client, client.stream("GET", self._url(bucket, name)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise _status_error(key, r)
                length = r.headers.get("content-length", "")
                if length.isdigit():
                    _check_size(key, int(length), max_bytes)
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    _check_size(key, len(body), max_bytes)
                mime = r.headers.get("content-type", "").split(";")[0].strip() or None
        except httpx.HTTPError as e:
            raise _unreachable(key, e) from e
        return Document(data=bytes(body), name=name.rpartition("/")[2], mime=mime, url=key)

    def write(self, key: str, data: bytes) -> str:
        bucket, name = split_supabase_path(key)
        headers = {"x-upsert": "true", "Content-Type": "application/octet-stream"}
        try:
            with self._client() as client:
                r = client.post(self._url(bucket, name), content=data, headers=headers)
        except httpx.HTTPError as e:
            raise _unreachable(key, e) from e
        if r.status_code >= 400:
            raise _status_error(key, r)
        return key

    def delete(self, key: str) -> None:
        bucket, name = split_supabase_path(key)
        try:
            with self._client() as client:
                r = client.request("DELETE", self._url(bucket), json={"prefixes": [name]})
        except httpx.HTTPError as e:
            raise _unreachable(key, e) from e
        if r.status_code >= 400 and not _is_missing(r):
            raise _status_error(key, r)


def _check_size(key: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise SourceError(
            f"{key} is over the limit of {max_bytes} bytes (INTAJ_MAX_FILE_BYTES)",
            code="source_too_large",
        )


def _body(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _status(r: httpx.Response) -> int:
    # Supabase Storage has answered errors both with the real HTTP status and as HTTP 400 with
    # the real one in the body ({"statusCode": "404", "error": "not_found", ...}).
    inner = str(_body(r).get("statusCode", ""))
    return int(inner) if r.status_code == 400 and inner.isdigit() else r.status_code


def _is_missing(r: httpx.Response) -> bool:
    return _status(r) == 404


def _status_error(key: str, r: httpx.Response) -> SourceError:
    detail = _body(r).get("message") or r.reason_phrase
    status = _status(r)
    if status == 404:
        return SourceError(
            f"no object at {key}: check the bucket and key, or upload it again",
            code="source_missing",
        )
    if status in (401, 403):
        return SourceError(
            f"Supabase Storage refused access to {key} ({detail}): check"
            " INTAJ_SUPABASE_SERVICE_KEY and the bucket name",
            code="forbidden",
        )
    return SourceError(
        f"Supabase Storage answered HTTP {status} for {key} ({detail})",
        code="fetch_failed",
        transient=status >= 500 or status == 429,
    )


def _unreachable(key: str, e: Exception) -> SourceError:
    return SourceError(
        f"Supabase Storage did not answer for {key} ({e}); check INTAJ_SUPABASE_URL",
        code="source_unavailable",
        transient=True,
    )
