"""Authenticated encryption of stored secrets (``connections.credentials``).

AES-256-GCM with a random 96-bit nonce; the associated data binds a ciphertext to its row
(connection id and chatbot id), so a blob copied into another row does not decrypt. Envelopes
name the key that sealed them (``kid``), so keys can be rotated: seal with the primary key,
open with the primary or any old key, then re-seal (``intaj credentials rotate``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import ConfigError, IntajError

ALGORITHM = "aes-256-gcm"


class CredentialError(IntajError):
    code = "credential_invalid"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def new_key() -> str:
    """A fresh key, as INTAJ_CREDENTIALS_KEY expects it (base64url of 32 random bytes)."""
    return _b64(os.urandom(32))


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"intaj-kid:" + key).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    primary: bytes
    old: tuple[bytes, ...] = ()

    @classmethod
    def from_text(cls, primary: str, old: list[str] | tuple[str, ...] = ()) -> Keyring:
        def decode(text: str) -> bytes:
            try:
                key = _unb64(text.strip())
            except ValueError as e:
                raise ConfigError("a credentials key is not valid base64url") from e
            if len(key) != 32:
                raise ConfigError(
                    "a credentials key must be 32 bytes (base64url); make one with"
                    " `intaj connection new-key`"
                )
            return key

        return cls(decode(primary), tuple(decode(k) for k in old))

    def by_id(self, kid: str) -> bytes | None:
        for key in (self.primary, *self.old):
            if key_id(key) == kid:
                return key
        return None


def seal(keyring: Keyring, data: dict[str, Any], *, aad: str) -> dict[str, str]:
    nonce = os.urandom(12)
    plaintext = json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")
    ciphertext = AESGCM(keyring.primary).encrypt(nonce, plaintext, aad.encode("utf-8"))
    return {
        "enc": ALGORITHM,
        "kid": key_id(keyring.primary),
        "nonce": _b64(nonce),
        "ct": _b64(ciphertext),
    }


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.get("enc") == ALGORITHM and "ct" in value


def open_sealed(keyring: Keyring, envelope: dict[str, Any], *, aad: str) -> dict[str, Any]:
    """The plaintext of an envelope; fails closed on any tampering or a wrong row."""
    key = keyring.by_id(str(envelope.get("kid", "")))
    if key is None:
        raise CredentialError(
            "stored credentials were sealed with a key that is not configured: add it to"
            " INTAJ_CREDENTIALS_OLD_KEYS, or store the credentials again"
        )
    try:
        plaintext = AESGCM(key).decrypt(
            _unb64(envelope["nonce"]), _unb64(envelope["ct"]), aad.encode("utf-8")
        )
    except (InvalidTag, KeyError, ValueError) as e:
        raise CredentialError(
            "stored credentials failed their integrity check (tampered, or copied from another"
            " row); store them again"
        ) from e
    data = json.loads(plaintext)
    if not isinstance(data, dict):
        raise CredentialError("stored credentials are not an object")
    return data


def mask(value: Any) -> str:
    """A secret as it may be shown: its last four characters at most."""
    text = str(value)
    return "…" + text[-4:] if len(text) >= 12 else "…"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret in it masked (an API error that quotes the key we sent)."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, mask(secret))
    return text


def keyring_for(settings: Any) -> Keyring:
    """The keyring of these settings: INTAJ_CREDENTIALS_KEY (plus INTAJ_CREDENTIALS_OLD_KEYS,
    comma-separated). On the embedded default with no key set, a key is made once and kept in
    INTAJ_HOME/credentials.key (mode 0600); against another database a key must be set."""
    old = settings.credentials_old_keys.get_secret_value() if settings.credentials_old_keys else ""
    old_keys = [k for k in old.split(",") if k.strip()]
    if settings.credentials_key is not None:
        return Keyring.from_text(settings.credentials_key.get_secret_value(), old_keys)
    if settings.database_url:
        raise ConfigError(
            "INTAJ_CREDENTIALS_KEY is not set: connections' credentials are encrypted at rest;"
            " make a key with `intaj connection new-key` and keep it in your secret store"
        )
    path = settings.home / "credentials.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key())
    return Keyring.from_text(path.read_text().strip(), old_keys)
