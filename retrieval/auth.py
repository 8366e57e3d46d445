"""Who calls the API, and which chatbots they may use (no web framework here).

Two kinds of caller:

- a Supabase user: ``Authorization: Bearer <JWT>``, signed ES256 or RS256 by one of the
  project's signing keys (its JWKS, :mod:`retrieval.jwks`, found by the token's ``kid``) or,
  for legacy projects, HS256 with ``INTAJ_JWT_SECRET``; not expired, audience
  ``INTAJ_JWT_AUDIENCE`` (default ``authenticated``), issuer ``<INTAJ_SUPABASE_URL>/auth/v1``
  (or ``INTAJ_JWT_ISSUER``). The caller is the ``sub`` claim; they may use the chatbots whose
  ``user_id`` is ``sub``. Nothing else in the token counts (``user_metadata`` is user-editable
  in Supabase);
- a service (the chatbot runtime): ``X-API-Key`` equal to one of ``INTAJ_SERVICE_API_KEYS``;
  it may use every chatbot.

A chatbot the caller may not use is reported exactly like one that does not exist, so the API
is no oracle for other tenants' chatbot ids.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from core.errors import AuthError, NotFoundError
from core.ids import is_uuid
from core.settings import Settings
from db import chatbots as chatbots_db
from db.chatbots import Chatbot
from retrieval import jwks


@dataclass(frozen=True)
class Caller:
    user_id: str | None  # None: a service key
    service: bool = False


def authenticate(settings: Settings, *, bearer: str | None, api_key: str | None) -> Caller:
    """The caller named by the request's credentials; :class:`AuthError` when there are none
    or they do not verify."""
    if api_key is not None:
        if _valid_api_key(settings, api_key):
            return Caller(user_id=None, service=True)
        raise AuthError("invalid API key")
    if bearer:
        return Caller(user_id=verify_jwt(settings, bearer))
    raise AuthError("authentication required: send Authorization: Bearer <JWT> or X-API-Key")


def _valid_api_key(settings: Settings, given: str) -> bool:
    candidate = given.encode("utf-8", "surrogateescape")
    matches = [
        hmac.compare_digest(candidate, key.get_secret_value().encode("utf-8"))
        for key in settings.service_api_keys
        if key.get_secret_value()
    ]  # every key is compared: the time taken does not depend on which one matched
    return any(matches)


def verify_jwt(settings: Settings, token: str) -> str:
    """The ``sub`` of a valid token. The header's ``alg`` only picks the key: ES256/RS256 the
    project's signing key named by ``kid`` (and only for that key's own algorithm), HS256 the
    legacy secret; any other algorithm, ``none`` included, is refused before any key is used."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise AuthError(f"invalid token ({type(e).__name__}); sign in again") from e
    algorithm = header.get("alg")
    key: Any
    if algorithm == "HS256":
        if settings.jwt_secret is None or not settings.jwt_secret.get_secret_value():
            raise AuthError("HS256 tokens are not accepted: the server has no INTAJ_JWT_SECRET")
        key = settings.jwt_secret.get_secret_value()
    elif algorithm in jwks.ALGORITHMS:
        key = _signing_key(settings, header, algorithm)
    else:
        raise AuthError(f"invalid token (algorithm {str(algorithm)[:16]!r} is not accepted)")
    audience = settings.jwt_audience or None
    issuer = settings.resolved_jwt_issuer
    required = ["exp", "sub"] + (["iss"] if issuer else [])
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={"require": required, "verify_aud": audience is not None},
            leeway=10,
        )
    except jwt.PyJWTError as e:
        raise AuthError(f"invalid token ({type(e).__name__}); sign in again") from e
    sub = claims.get("sub")
    if not isinstance(sub, str) or not is_uuid(sub):
        raise AuthError("invalid token: its subject is not a user id")
    return sub


def _signing_key(settings: Settings, header: dict[str, Any], algorithm: str) -> Any:
    """The public key of the project's signing key named in the header, for ``algorithm``."""
    url = settings.resolved_jwks_url
    if url is None:
        raise AuthError(
            f"{algorithm} tokens are not accepted: set INTAJ_SUPABASE_URL (or "
            "INTAJ_JWT_JWKS_URL) so the server can fetch the project's signing keys"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError("invalid token (no kid in its header); sign in again")
    keys = jwks.key_set(url, settings.jwt_jwks_cache_seconds, settings.jwt_jwks_refresh_seconds)
    found = keys.key(kid)
    if found.algorithm_name != algorithm:  # an RS256 header naming an ES256 key, or the reverse
        raise AuthError("invalid token (its algorithm does not match its key); sign in again")
    return found.key


def authorize(pool: ConnectionPool, caller: Caller, chatbot_id: str) -> Chatbot:
    """The chatbot, when ``caller`` may use it; :class:`NotFoundError` otherwise (the same
    for a chatbot that exists but is someone else's)."""
    bot = None
    if is_uuid(chatbot_id):
        with pool.connection() as conn:
            bot = chatbots_db.get(conn, chatbot_id=chatbot_id)
    if bot is None or not (caller.service or bot.user_id == caller.user_id):
        raise NotFoundError("chatbot not found")
    return bot
