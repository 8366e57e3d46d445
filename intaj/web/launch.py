"""What `intaj serve` needs to hand the playground to a person: its URL, and a one-off key when
the server has no credentials configured."""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlencode

from pydantic import SecretStr

from core.settings import Settings


def with_session_key(settings: Settings) -> tuple[Settings, str | None]:
    """``settings`` plus a random service key for this process, when none of
    INTAJ_SERVICE_API_KEYS, INTAJ_JWT_SECRET and INTAJ_SUPABASE_URL (or INTAJ_JWT_JWKS_URL) is
    set (else no key: sign in with yours)."""
    if settings.service_api_keys or settings.jwt_secret is not None or settings.resolved_jwks_url:
        return settings, None
    key = "local-" + secrets.token_urlsafe(24)
    return settings.model_copy(update={"service_api_keys": [SecretStr(key)]}), key


def playground_url(
    host: str, port: int, *, key: str | None = None, chatbot: str | None = None
) -> str:
    """The playground's address; the key goes in the fragment, which the browser never sends
    (nor logs in a server's access log)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    fragment = {k: v for k, v in (("key", key), ("chatbot", chatbot)) if v}
    tail = "#" + urlencode(fragment, quote_via=quote) if fragment else ""
    return f"http://{shown}:{port}/playground{tail}"
