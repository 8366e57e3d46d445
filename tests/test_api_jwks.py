"""Supabase's asymmetric JWT signing keys, against a real JWKS server on 127.0.0.1: ES256 and
RS256 tokens are accepted, a rotated-in key after one refetch, and the attacks are refused: a
foreign key (even under a published kid), alg confusion (HS256 keyed with the public key, a kid
used with another algorithm), ``alg: none``, expired tokens, another issuer or audience, and
made-up kids flooding the key endpoint. Legacy HS256 tokens keep working."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from core.errors import AuthError, AuthUnavailableError, ConfigError
from core.settings import Settings
from intaj.http import create_app
from pipeline.embed import Embedder
from retrieval import jwks
from retrieval.auth import verify_jwt
from tests.servers.asgi import serving
from tests.servers.jwks import AuthServer, SigningKey, auth_server

LEGACY = "legacy-jwt-secret-0123456789abcdef0123456789"
USER = str(uuid.uuid4())


@pytest.fixture(scope="module")
def es() -> SigningKey:
    return SigningKey.new("es-1", "ES256")


@pytest.fixture(scope="module")
def rs() -> SigningKey:
    return SigningKey.new("rs-1", "RS256")


@pytest.fixture
def server() -> Iterator[AuthServer]:
    jwks.key_set.cache_clear()  # each test starts with the process knowing no keys
    with auth_server() as running:
        yield running
    jwks.key_set.cache_clear()


def configured(settings: Settings, server: AuthServer, **update: Any) -> Settings:
    """The project at ``server``: its URL (JWKS and issuer derived from it), a legacy secret."""
    return settings.model_copy(update={
        "supabase_url": server.url, "jwt_secret": SecretStr(LEGACY),
        "jwt_jwks_refresh_seconds": 0.0, **update,
    })  # fmt: skip


def refused(settings: Settings, token: str) -> str:
    with pytest.raises(AuthError) as caught:
        verify_jwt(settings, token)
    return caught.value.message


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A token built by hand: HS256 over any bytes as the secret, or no signature at all."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_es256_rs256_and_legacy_hs256_tokens_are_accepted(
    settings: Settings, server: AuthServer, es: SigningKey, rs: SigningKey
) -> None:
    server.publish(es, rs)
    project = configured(settings, server)
    assert project.resolved_jwks_url == server.url + jwks_path()
    assert verify_jwt(project, es.sign(server.claims(USER))) == USER
    assert verify_jwt(project, rs.sign(server.claims(USER))) == USER
    legacy = jwt_encode_hs256(server.claims(USER), LEGACY)
    assert verify_jwt(project, legacy) == USER
    assert server.requests == 1  # one fetch, then the cached set


def test_a_rotated_in_key_is_accepted_after_one_refetch_and_a_revoked_one_refused(
    settings: Settings, server: AuthServer, es: SigningKey, rs: SigningKey
) -> None:
    project = configured(settings, server)
    server.publish(es)
    old_token = es.sign(server.claims(USER))
    assert verify_jwt(project, old_token) == USER
    server.publish(es, rs)  # Supabase: rs was the standby key and is now the active one
    assert verify_jwt(project, rs.sign(server.claims(USER))) == USER
    assert server.requests == 2
    server.publish(rs)  # es revoked
    assert verify_jwt(project, old_token) == USER  # still in the held set: no refetch
    unknown = SigningKey.new("es-2", "ES256").sign(server.claims(USER))
    assert "unknown signing key" in refused(project, unknown)  # refetches: es is gone
    assert server.requests == 3
    assert "unknown signing key" in refused(project, old_token)


def test_unknown_kids_refetch_at_most_once_per_refresh_interval(
    settings: Settings, server: AuthServer, es: SigningKey, rs: SigningKey
) -> None:
    project = configured(settings, server, jwt_jwks_refresh_seconds=1.0)
    server.publish(es)
    assert verify_jwt(project, es.sign(server.claims(USER))) == USER
    made_up = SigningKey.new("x", "ES256")
    for i in range(20):
        token = made_up.sign(server.claims(USER), kid=f"made-up-{i}")
        assert "unknown signing key" in refused(project, token)
    assert server.requests == 1  # 20 unknown kids within the interval: no request
    server.publish(es, rs)
    rotated = rs.sign(server.claims(USER))
    assert "unknown signing key" in refused(project, rotated)  # still within the interval
    time.sleep(1.1)
    assert verify_jwt(project, rotated) == USER
    assert server.requests == 2


def test_a_token_signed_by_a_foreign_key_is_refused(
    settings: Settings, server: AuthServer, es: SigningKey, rs: SigningKey
) -> None:
    server.publish(es, rs)
    project = configured(settings, server)
    for name, algorithm in (("es-1", "ES256"), ("rs-1", "RS256"), ("other", "ES256")):
        foreign = SigningKey.new(name, algorithm)  # a published kid, or an unknown one
        assert "invalid token" in refused(project, foreign.sign(server.claims(USER)))


def test_alg_confusion_is_refused(
    settings: Settings, server: AuthServer, es: SigningKey, rs: SigningKey
) -> None:
    server.publish(es, rs)
    claims = server.claims(USER)
    secrets: list[bytes] = []
    for key in (es, rs):
        public = key.private.public_key()
        secrets += [
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            json.dumps(key.jwk()).encode(),
            json.dumps(server.keys).encode(),
        ]
    tokens = [hand_made({"alg": "HS256", "typ": "JWT", "kid": k}, claims, s)
              for s in secrets for k in ("es-1", "rs-1")]  # fmt: skip
    for project in (configured(settings, server), configured(settings, server, jwt_secret=None)):
        for token in tokens:
            refused(project, token)
    # a published kid used with the other asymmetric algorithm
    rs_as_es = SigningKey("es-1", "RS256", rs.private).sign(claims)
    es_as_rs = SigningKey("rs-1", "ES256", es.private).sign(claims)
    project = configured(settings, server)
    for token in (rs_as_es, es_as_rs):
        assert "does not match its key" in refused(project, token)


def test_unsigned_and_unlisted_algorithms_are_refused(
    settings: Settings, server: AuthServer, es: SigningKey
) -> None:
    server.publish(es)
    project = configured(settings, server)
    claims = server.claims(USER)
    for alg in ("none", "None", "NONE", "ES384", "PS256", "HS512", ""):
        token = hand_made({"alg": alg, "typ": "JWT", "kid": "es-1"}, claims, None)
        assert "is not accepted" in refused(project, token)
    no_kid = hand_made({"alg": "ES256", "typ": "JWT"}, claims, None)
    assert "no kid" in refused(project, no_kid)
    assert server.requests == 0  # nothing above got as far as the key set


def test_expired_tokens_and_wrong_claims_are_refused(
    settings: Settings, server: AuthServer, es: SigningKey, rs: SigningKey
) -> None:
    server.publish(es, rs)
    project = configured(settings, server)
    base = server.claims(USER)
    without_iss = {k: v for k, v in base.items() if k != "iss"}
    without_exp = {k: v for k, v in base.items() if k != "exp"}
    cases = {
        "ExpiredSignatureError": {**base, "exp": int(time.time()) - 60},
        "InvalidIssuerError": {**base, "iss": "https://other-project.supabase.co/auth/v1"},
        "MissingRequiredClaimError": without_iss,
        "InvalidAudienceError": {**base, "aud": "anon"},
    }
    for error, claims in cases.items():
        for key in (es, rs):
            assert error in refused(project, key.sign(claims))
        assert error in refused(project, jwt_encode_hs256(claims, LEGACY))
    assert "MissingRequiredClaimError" in refused(project, es.sign(without_exp))
    assert "not a user id" in refused(project, es.sign({**base, "sub": "service_role"}))


def test_an_unreachable_key_endpoint_keeps_held_keys_and_is_503_without_any(
    settings: Settings, server: AuthServer, es: SigningKey
) -> None:
    server.publish(es)
    project = configured(settings, server, jwt_jwks_cache_seconds=0.001)
    token = es.sign(server.claims(USER))
    assert verify_jwt(project, token) == USER
    server.failing = True
    time.sleep(0.01)  # the cached set has expired: each use tries to refetch
    assert verify_jwt(project, token) == USER  # the held keys still verify
    assert server.requests == 2
    jwks.key_set.cache_clear()  # a fresh process: no keys held
    with pytest.raises(AuthUnavailableError):
        verify_jwt(project, token)
    server.failing = False
    assert verify_jwt(project, token) == USER


def test_the_key_set_must_come_over_https_except_from_this_host(settings: Settings) -> None:
    plain = settings.model_copy(update={"jwt_jwks_url": "http://auth.example.com/jwks.json"})
    with pytest.raises(ConfigError, match="must be https"):
        verify_jwt(plain, SigningKey.new("k", "ES256").sign({"sub": USER}))
    off = settings.model_copy(update={"supabase_url": "https://p.supabase.co", "jwt_jwks_url": ""})
    assert off.resolved_jwks_url is None
    assert off.resolved_jwt_issuer == "https://p.supabase.co/auth/v1"
    assert "INTAJ_SUPABASE_URL" in refused(off, SigningKey.new("k", "ES256").sign({"sub": USER}))


def test_the_api_accepts_es256_tokens_and_answers_401_or_503_otherwise(
    settings: Settings,
    pool: ConnectionPool,
    server: AuthServer,
    es: SigningKey,
    make_chatbot: Any,
    embedder: Embedder,  # loaded before the first search
) -> None:
    server.publish(es)
    bot = make_chatbot()
    project = configured(settings, server, llm_model=None)
    with serving(create_app(project, pool=pool)) as url:

        def search(token: str) -> httpx.Response:
            return httpx.post(
                f"{url}/v1/chatbots/{bot.id}/search",
                json={"query": "helmet"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )

        owner = search(es.sign(server.claims(bot.user_id)))
        assert owner.status_code == 200, owner.text
        assert owner.json() == {"hits": []}
        stranger = search(es.sign(server.claims(str(uuid.uuid4()))))
        assert stranger.status_code == 404  # signed in, but not their chatbot
        forged = search(SigningKey.new("es-1", "ES256").sign(server.claims(bot.user_id)))
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "unauthorized"
        jwks.key_set.cache_clear()
        server.failing = True
        down = search(es.sign(server.claims(bot.user_id)))
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "auth_unavailable"


def jwks_path() -> str:
    return "/auth/v1/.well-known/jwks.json"


def jwt_encode_hs256(claims: dict[str, Any], secret: str) -> str:
    import jwt

    return jwt.encode(claims, secret, algorithm="HS256")
