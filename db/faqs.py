"""FAQ rows (question/answer pairs of a chatbot)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True, slots=True)
class Faq:
    id: str
    chatbot_id: str
    question: str
    answer: str


_COLUMNS = "id::text, chatbot_id::text, question, answer"


def add(conn: psycopg.Connection, *, chatbot_id: str, question: str, answer: str) -> Faq:
    """Add an FAQ, or update the answer of the same question of this chatbot."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM faqs WHERE chatbot_id = %s AND question = %s",
        (chatbot_id, question),
    ).fetchone()
    if row is not None:
        return update(conn, faq_id=row[0], question=question, answer=answer)
    row = conn.execute(
        f"INSERT INTO faqs (chatbot_id, question, answer) VALUES (%s, %s, %s) RETURNING {_COLUMNS}",
        (chatbot_id, question, answer),
    ).fetchone()
    assert row is not None
    return Faq(*row)


def update(conn: psycopg.Connection, *, faq_id: str, question: str, answer: str) -> Faq:
    row = conn.execute(
        "UPDATE faqs SET question = %s, answer = %s, updated_at = now() WHERE id = %s"
        f" RETURNING {_COLUMNS}",
        (question, answer, faq_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"FAQ {faq_id} does not exist")
    return Faq(*row)


def delete(conn: psycopg.Connection, *, faq_id: str) -> bool:
    cur = conn.execute("DELETE FROM faqs WHERE id = %s", (faq_id,))
    return cur.rowcount > 0


def list_for(conn: psycopg.Connection, *, chatbot_id: str) -> list[Faq]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM faqs WHERE chatbot_id = %s ORDER BY created_at, id",
        (chatbot_id,),
    ).fetchall()
    return [Faq(*r) for r in rows]
