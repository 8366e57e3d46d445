"""A Supabase Auth stand-in for the token tests: a real HTTP server on 127.0.0.1 serving
``/auth/v1/.well-known/jwks.json`` from a key list the test changes (a rotation), counting the
requests, and able to fail; plus the signing side (keys, tokens) of the project it plays."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/auth/v1/.well-known/jwks.json"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str  # ES256 or RS256
    private: Any

    @classmethod
    def new(cls, kid: str, algorithm: str) -> SigningKey:
        if algorithm == "ES256":
            return cls(kid, algorithm, ec.generate_private_key(ec.SECP256R1()))
        return cls(kid, algorithm, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        """The public half, as Supabase publishes it."""
        kind = ECAlgorithm if self.algorithm == "ES256" else RSAAlgorithm
        public = kind.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig",
                "key_ops": ["verify"]}  # fmt: skip

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header}
        )


@dataclass
class AuthServer:
    """What the test controls: the published keys, whether the endpoint answers, the count."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    failing: bool = False
    requests: int = 0

    @property
    def issuer(self) -> str:
        return self.url + "/auth/v1"

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [k.jwk() for k in keys]

    def claims(self, sub: str, **extra: Any) -> dict[str, Any]:
        """A Supabase access token's claims for user ``sub``, valid for five minutes."""
        return {"sub": sub, "aud": "authenticated", "role": "authenticated",
                "iss": self.issuer, "exp": int(time.time()) + 300, **extra}  # fmt: skip


@contextmanager
def auth_server() -> Iterator[AuthServer]:
    state = AuthServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            if self.path != JWKS_PATH or state.failing:
                self.send_error(404 if self.path != JWKS_PATH else 503)
                return
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=600")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
