"""Profiles and chatbots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core.ids import is_uuid

LOCAL_EMAIL = "local@intaj.localhost"


@dataclass(frozen=True, slots=True)
class Chatbot:
    id: str
    user_id: str
    name: str
    model: str | None
    settings: dict[str, Any]
    embedding_model: str | None
    language: str  # the text-search configuration its chunks are indexed with
    language_code: str = "en"  # the owner's choice: en, ar or multi (pipeline/languages.py)


_COLUMNS = (
    "id::text, user_id::text, name, model, settings, embedding_model, language::text, language_code"
)


def _row(row: tuple[Any, ...]) -> Chatbot:
    return Chatbot(*row)


def local_profile(conn: psycopg.Connection) -> str:
    """The profile that owns chatbots created from the command line."""
    row = conn.execute(
        "INSERT INTO profiles (name, email) VALUES ('Local user', %s)"
        " ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id::text",
        (LOCAL_EMAIL,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def create_profile(conn: psycopg.Connection, *, name: str, email: str) -> str:
    row = conn.execute(
        "INSERT INTO profiles (name, email) VALUES (%s, %s) RETURNING id::text", (name, email)
    ).fetchone()
    assert row is not None
    return str(row[0])


def get(conn: psycopg.Connection, *, chatbot_id: str) -> Chatbot | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM chatbots WHERE id = %s", (chatbot_id,)).fetchone()
    return None if row is None else _row(row)


def list_for(conn: psycopg.Connection, *, user_id: str | None) -> list[Chatbot]:
    """The chatbots of ``user_id`` (every chatbot when None: a service), by name."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM chatbots WHERE %s::uuid IS NULL OR user_id = %s::uuid"
        " ORDER BY name, id",
        (user_id, user_id),
    ).fetchall()
    return [_row(r) for r in rows]


def find(conn: psycopg.Connection, *, ref: str, user_id: str | None = None) -> Chatbot | None:
    """A chatbot by id, or by name (of ``user_id`` when given)."""
    if is_uuid(ref):
        found = get(conn, chatbot_id=ref)
        if found is not None and (user_id is None or found.user_id == user_id):
            return found
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM chatbots WHERE name = %s"
        " AND (%s::uuid IS NULL OR user_id = %s::uuid) ORDER BY created_at LIMIT 1",
        (ref, user_id, user_id),
    ).fetchone()
    return None if row is None else _row(row)


def named(conn: psycopg.Connection, *, name: str) -> list[Chatbot]:
    """Every chatbot called ``name`` (any owner), the oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM chatbots WHERE name = %s ORDER BY created_at, id", (name,)
    ).fetchall()
    return [_row(r) for r in rows]


def names_like(conn: psycopg.Connection, *, text: str, limit: int = 5) -> list[str]:
    """Up to ``limit`` chatbot names that contain ``text`` in any letter case (suggestions)."""
    rows = conn.execute(
        "SELECT DISTINCT name FROM chatbots WHERE strpos(lower(name), lower(%s)) > 0"
        " ORDER BY name LIMIT %s",
        (text, limit),
    ).fetchall()
    return [str(r[0]) for r in rows]


def create(
    conn: psycopg.Connection,
    *,
    user_id: str,
    name: str,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    language: str = "simple",
    language_code: str = "en",
    embedding_model: str | None = None,
) -> Chatbot:
    row = conn.execute(
        "INSERT INTO chatbots (user_id, name, model, settings, language, language_code,"
        f" embedding_model) VALUES (%s, %s, %s, %s, %s::regconfig, %s, %s) RETURNING {_COLUMNS}",
        (user_id, name, model, Jsonb(settings or {}), language, language_code, embedding_model),
    ).fetchone()
    assert row is not None
    return _row(row)


def get_or_create(
    conn: psycopg.Connection, *, user_id: str, name: str, language: str = "simple"
) -> Chatbot:
    found = find(conn, ref=name, user_id=user_id)
    if found is not None:
        return found
    conn.execute(
        "INSERT INTO chatbots (user_id, name, language) VALUES (%s, %s, %s::regconfig)"
        " ON CONFLICT (user_id, name) DO NOTHING",
        (user_id, name, language),
    )
    created = find(conn, ref=name, user_id=user_id)
    assert created is not None
    return created


def set_embedding_model(conn: psycopg.Connection, *, chatbot_id: str, model: str) -> None:
    conn.execute("UPDATE chatbots SET embedding_model = %s WHERE id = %s", (model, chatbot_id))


def set_language(
    conn: psycopg.Connection, *, chatbot_id: str, code: str, text_config: str, model: str
) -> int:
    """Set a chatbot's language, its text-search configuration and its embedding model, and
    re-index its chunks under that configuration (their tsvector is generated from it), all in
    the caller's transaction: searches see the old language or the new, never a mix. Returns
    the number of chunks re-indexed."""
    conn.execute(
        "UPDATE chatbots SET language_code = %s, language = %s::regconfig, embedding_model = %s"
        " WHERE id = %s",
        (code, text_config, model, chatbot_id),
    )
    cur = conn.execute(
        "UPDATE chunks SET language = %s::regconfig WHERE chatbot_id = %s"
        " AND language <> %s::regconfig",
        (text_config, chatbot_id, text_config),
    )
    return cur.rowcount


def delete(conn: psycopg.Connection, *, chatbot_id: str) -> None:
    conn.execute("DELETE FROM chatbots WHERE id = %s", (chatbot_id,))
