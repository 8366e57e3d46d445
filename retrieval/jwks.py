"""A Supabase project's JWT signing keys: its JWKS, fetched, cached and refreshed.

Supabase publishes the public half of each asymmetric signing key (ES256 on P-256, RS256) at
``<SUPABASE_URL>/auth/v1/.well-known/jwks.json``, the standby key before it becomes active and
previously used keys until they are revoked. :class:`KeySet` keeps that set in memory:

- it is fetched on first use and again once it is older than ``max_age`` (Supabase serves it
  with a 10-minute ``max-age``);
- a token whose ``kid`` is not in the set triggers a refetch (a key rotation), but fetches,
  successful or not, happen at most once per ``min_refresh`` seconds, so tokens with made-up
  ``kid`` values cannot turn the API into a flood of requests to Supabase;
- when a refetch fails, the keys already held keep working for up to :data:`STALE_LIMIT`
  seconds past ``max_age`` (an outage of the key endpoint does not sign everyone out); with no
  keys at all the caller gets :class:`AuthUnavailableError` (HTTP 503).

Only keys for signatures (``use`` absent or ``sig``) with a ``kid`` and an algorithm in
:data:`ALGORITHMS` are kept: a symmetric (``oct``) key in a JWKS is ignored, never used as an
HMAC secret. The URL is operator-configured and must be https (plain http only to this host).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from core.errors import AuthError, AuthUnavailableError, ConfigError

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "RS256")
STALE_LIMIT = 3600.0
MAX_BYTES = 256 * 1024
TIMEOUT_SECONDS = 5.0
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class KeySet:
    """The signing keys published at ``url``, by ``kid`` (thread-safe)."""

    def __init__(self, url: str, *, max_age: float, min_refresh: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (
            parts.scheme == "http" and (parts.hostname or "") in LOOPBACK
        ):
            raise ConfigError(
                f"the JWKS URL {url!r} must be https (plain http only to localhost): "
                "fix INTAJ_SUPABASE_URL or INTAJ_JWT_JWKS_URL"
            )
        self.url, self.max_age, self.min_refresh = url, max_age, min_refresh
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch (monotonic)
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = threading.Lock()
        self.fetches = 0  # attempts, for the log and the tests

    def key(self, kid: str) -> jwt.PyJWK:
        """The key named ``kid``. :class:`AuthError` when the set does not have it (after a
        refetch, when one is allowed); :class:`AuthUnavailableError` when no usable set could
        be fetched."""
        with self._lock:
            now = time.monotonic()
            expired = self._fetched_at is None or now - self._fetched_at >= self.max_age
            if (expired or kid not in self._keys) and self._may_fetch(now):
                self._refresh(now)
            if self._fetched_at is None or now - self._fetched_at > self.max_age + STALE_LIMIT:
                raise AuthUnavailableError(
                    "cannot check the token: the signing keys could not be fetched from "
                    f"{self.url}; retry shortly"
                )
            found = self._keys.get(kid)
        if found is None:
            raise AuthError("invalid token (unknown signing key); sign in again")
        return found

    def _may_fetch(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self.min_refresh

    def _refresh(self, now: float) -> None:
        self._tried_at = now
        self.fetches += 1
        try:
            keys = parse(self._download())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as e:
            held = f"keeping the {len(self._keys)} keys held" if self._keys else "no keys held"
            log.warning("could not fetch the JWKS at %s (%s); %s", self.url, e, held)
            return
        self._keys, self._fetched_at = keys, now

    def _download(self) -> Any:
        headers = {"Accept": "application/json"}
        with (
            httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream("GET", self.url, headers=headers) as reply,
        ):
            reply.raise_for_status()
            body = bytearray()
            for part in reply.iter_bytes():
                body += part
                if len(body) > MAX_BYTES:
                    raise ValueError(f"the key set is larger than {MAX_BYTES} bytes")
        return json.loads(bytes(body))


def parse(document: Any) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document, by ``kid`` (pure)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, KeyError, TypeError):
            continue  # an unsupported key type: not one of ours
        if isinstance(kid, str) and kid and key.algorithm_name in ALGORITHMS:
            keys[kid] = key
    if not keys:
        raise ValueError(f"the key set has no {'/'.join(ALGORITHMS)} signing key with a kid")
    return keys


@functools.lru_cache(maxsize=16)
def key_set(url: str, max_age: float, min_refresh: float) -> KeySet:
    """The process's one :class:`KeySet` for these settings (shared by every request)."""
    return KeySet(url, max_age=max_age, min_refresh=min_refresh)
