"""Conversation messages (user and assistant turns, citations in metadata)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def add(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    conversation_id: str,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
) -> str:
    row = conn.execute(
        "INSERT INTO messages (chatbot_id, conversation_id, role, content, metadata, created_at)"
        " VALUES (%s, %s, %s, %s, %s, clock_timestamp()) RETURNING id::text",
        (chatbot_id, conversation_id, role, content, Jsonb(metadata or {})),
    ).fetchone()
    assert row is not None
    return str(row[0])


def history(
    conn: psycopg.Connection, *, chatbot_id: str, conversation_id: str, limit: int = 20
) -> list[tuple[str, str]]:
    """The last ``limit`` (role, content) turns of one conversation, oldest first."""
    rows = conn.execute(
        "SELECT role, content FROM (SELECT role, content, created_at FROM messages"
        " WHERE chatbot_id = %s AND conversation_id = %s"
        " ORDER BY created_at DESC LIMIT %s) recent ORDER BY created_at",
        (chatbot_id, conversation_id, limit),
    ).fetchall()
    return [(r, c) for r, c in rows]


def count(conn: psycopg.Connection, *, chatbot_id: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM messages WHERE chatbot_id = %s", (chatbot_id,)
    ).fetchone()
    return int(row[0]) if row else 0
