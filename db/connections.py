"""Connections: a chatbot's (or its owner's) credentials for an outside platform.

``connections.credentials`` holds an AES-256-GCM envelope (core/crypto.py) bound to its row
(connection id and chatbot id). :func:`credentials` is the one place that decrypts it;
:func:`list_masked` is what may be shown. Credentials are never logged or returned by the API.
Rows written by another tool in plain JSON are still read, and sealed by :func:`rotate`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core.crypto import Keyring, is_sealed, mask, open_sealed, seal

WEBSITE = "website"


@dataclass(frozen=True, slots=True)
class Widget:
    """A website connection: the public widget of one chatbot and the origins it answers."""

    id: str
    chatbot_id: str
    allowed_origins: tuple[str, ...]


def row_aad(connection_id: str, chatbot_id: str | None) -> str:
    return f"connections:{connection_id}:{chatbot_id or ''}"


def add(
    conn: psycopg.Connection,
    *,
    user_id: str,
    chatbot_id: str | None,
    platform: str,
    credentials: dict[str, Any],
    keyring: Keyring,
    active: bool = True,
) -> str:
    connection_id = str(uuid.uuid4())
    sealed = seal(keyring, credentials, aad=row_aad(connection_id, chatbot_id))
    conn.execute(
        "INSERT INTO connections (id, user_id, chatbot_id, platform, credentials, active)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (connection_id, user_id, chatbot_id, platform, Jsonb(sealed), active),
    )
    return connection_id


def credentials(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    platform: str,
    keyring: Keyring | Callable[[], Keyring],
) -> dict[str, Any] | None:
    """The credentials of the chatbot's newest active connection to ``platform``, or None.
    ``keyring`` may be a function, called only when there is something to decrypt.

    Only a connection bound to this chatbot counts (never another chatbot's, never one of the
    owner's unbound ones), so one tenant's key can never serve another's chatbot."""
    row = conn.execute(
        "SELECT id::text, credentials FROM connections"
        " WHERE chatbot_id = %s AND platform = %s AND active"
        " ORDER BY created_at DESC, id LIMIT 1",
        (chatbot_id, platform),
    ).fetchone()
    if row is None or not isinstance(row[1], dict):
        return None
    connection_id, stored = row
    if is_sealed(stored):
        keys = keyring() if callable(keyring) else keyring
        return open_sealed(keys, stored, aad=row_aad(connection_id, chatbot_id))
    return dict(stored)


def list_masked(
    conn: psycopg.Connection, *, keyring: Keyring, chatbot_id: str | None = None
) -> list[dict[str, Any]]:
    """Connections with every credential value masked (``…abcd``)."""
    rows = conn.execute(
        "SELECT id::text, chatbot_id::text, platform, credentials, active FROM connections"
        " WHERE %s::uuid IS NULL OR chatbot_id = %s ORDER BY created_at, id",
        (chatbot_id, chatbot_id),
    ).fetchall()
    listed = []
    for connection_id, bot, platform, stored, active in rows:
        plain = (
            open_sealed(keyring, stored, aad=row_aad(connection_id, bot))
            if is_sealed(stored)
            else dict(stored or {})
        )
        listed.append(
            {
                "id": connection_id,
                "chatbot_id": bot,
                "platform": platform,
                "active": active,
                "credentials": {k: mask(v) for k, v in plain.items()},
            }
        )
    return listed


def rotate(conn: psycopg.Connection, *, keyring: Keyring) -> int:
    """Re-seal every row with the keyring's primary key (plain rows get sealed too).
    Runs in one transaction: all rows move to the new key, or none."""
    count = 0
    with conn.transaction():
        rows = conn.execute(
            "SELECT id::text, chatbot_id::text, credentials FROM connections FOR UPDATE"
        ).fetchall()
        for connection_id, bot, stored in rows:
            aad = row_aad(connection_id, bot)
            plain = open_sealed(keyring, stored, aad=aad) if is_sealed(stored) else dict(stored)
            conn.execute(
                "UPDATE connections SET credentials = %s WHERE id = %s",
                (Jsonb(seal(keyring, plain, aad=aad)), connection_id),
            )
            count += 1
    return count


def add_website(
    conn: psycopg.Connection, *, user_id: str, chatbot_id: str, origins: Sequence[str]
) -> Widget:
    """A website connection (a widget) of the chatbot, answering pages of ``origins``. It holds
    no secret: its credentials stay an empty object."""
    row = conn.execute(
        "INSERT INTO connections (user_id, chatbot_id, platform, allowed_origins)"
        " VALUES (%s, %s, %s, %s) RETURNING id::text",
        (user_id, chatbot_id, WEBSITE, list(origins)),
    ).fetchone()
    assert row is not None
    return Widget(str(row[0]), chatbot_id, tuple(origins))


def widget(conn: psycopg.Connection, *, widget_id: str) -> Widget | None:
    """The active website connection ``widget_id`` (bound to a chatbot), or None."""
    row = conn.execute(
        "SELECT id::text, chatbot_id::text, allowed_origins FROM connections"
        " WHERE id = %s AND platform = %s AND active AND chatbot_id IS NOT NULL",
        (widget_id, WEBSITE),
    ).fetchone()
    return None if row is None else Widget(row[0], row[1], tuple(row[2]))


def widgets_for(conn: psycopg.Connection, *, chatbot_id: str) -> list[Widget]:
    """The chatbot's active website connections, oldest first."""
    rows = conn.execute(
        "SELECT id::text, chatbot_id::text, allowed_origins FROM connections"
        " WHERE chatbot_id = %s AND platform = %s AND active ORDER BY created_at, id",
        (chatbot_id, WEBSITE),
    ).fetchall()
    return [Widget(r[0], r[1], tuple(r[2])) for r in rows]
