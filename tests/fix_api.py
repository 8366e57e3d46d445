"""What the HTTP API tests share: the app's settings, Supabase-style tokens, SSE parsing."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
from pydantic import SecretStr

from core.settings import Settings

JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
SERVICE_KEY = "svc-test-key-0123456789"


def api_settings(settings: Settings) -> Settings:
    """The session's settings plus API credentials (and no LLM unless a chatbot has one)."""
    return settings.model_copy(update={
        "jwt_secret": SecretStr(JWT_SECRET),
        "service_api_keys": [SecretStr("another-key"), SecretStr(SERVICE_KEY)],
        "llm_model": None,
    })  # fmt: skip


def token(sub: str, *, secret: str = JWT_SECRET, **claims: Any) -> str:
    """A Supabase access token for user ``sub`` (HS256, audience 'authenticated')."""
    payload = {"sub": sub, "aud": "authenticated", "role": "authenticated",
               "exp": int(time.time()) + 300, **claims}  # fmt: skip
    return jwt.encode(payload, secret, algorithm="HS256")


def unsigned_token(sub: str) -> str:
    """An ``alg: none`` token: no signature at all."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": sub, "aud": "authenticated", "exp": int(time.time()) + 300}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def bearer(sub: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **claims)}"}


def sse_events(text: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a text/event-stream body."""
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((fields["event"], json.loads(fields["data"])))
    return found
