"""FAQs live in the same chunk index: embedded once, rewritten when edited, gone when deleted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from psycopg_pool import ConnectionPool

from core.errors import IntajError
from core.settings import Settings
from db import faqs as faqs_db
from db.chatbots import Chatbot
from pipeline.embed import Embedder
from pipeline.faqs import read_csv, sync
from retrieval.search import search


def faq_chunks(pool: ConnectionPool, bot: Chatbot) -> list[tuple[str, str]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT faq_id::text, content FROM chunks WHERE chatbot_id = %s AND faq_id IS NOT NULL"
            " ORDER BY content",
            (bot.id,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_faqs_are_embedded_once_and_follow_edits_and_deletes(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    make_chatbot: Callable[..., Chatbot],
) -> None:
    bot = make_chatbot()
    with pool.connection() as conn:
        hours = faqs_db.add(
            conn, chatbot_id=bot.id, question="When are you open?", answer="9 to 6."
        )
        faqs_db.add(conn, chatbot_id=bot.id, question="Do you rent tandems?", answer="Yes, four.")
    first = sync(pool, embedder, chatbot_id=bot.id)
    assert (first.faqs, first.written, first.embedded) == (2, 2, 2)

    again = sync(pool, embedder, chatbot_id=bot.id)
    assert (again.written, again.embedded) == (0, 0)

    with pool.connection() as conn:
        faqs_db.update(conn, faq_id=hours.id, question="When are you open?", answer="8 to 7.")
    edited = sync(pool, embedder, chatbot_id=bot.id)
    assert (edited.written, edited.embedded, edited.reused) == (1, 0, 1)  # same question
    assert ("When are you open?\n\n8 to 7.") in [c for _, c in faq_chunks(pool, bot)]

    with pool.connection() as conn:
        faqs_db.update(conn, faq_id=hours.id, question="What are your hours?", answer="8 to 7.")
    reworded = sync(pool, embedder, chatbot_id=bot.id)
    assert (reworded.written, reworded.embedded) == (1, 1)

    with pool.connection() as conn:
        faqs_db.delete(conn, faq_id=hours.id)
    assert [c for _, c in faq_chunks(pool, bot)] == ["Do you rent tandems?\n\nYes, four."]


def test_faq_hits_are_cited_as_faqs(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    make_chatbot: Callable[..., Chatbot],
) -> None:
    bot = make_chatbot()
    with pool.connection() as conn:
        faq = faqs_db.add(
            conn, chatbot_id=bot.id, question="Can I bring my dog?", answer="Dogs are welcome."
        )
    sync(pool, embedder, chatbot_id=bot.id)
    hits = search(pool, settings, chatbot=bot, query="Can I bring my dog?", k=3)
    assert hits[0].source == f"faq:{faq.id}"
    assert hits[0].metadata["answer"] == "Dogs are welcome."
    assert hits[0].score > 0.99


def test_faq_csv_needs_question_and_answer_columns() -> None:
    assert read_csv("question,answer\nWhy?,Because.\n") == [("Why?", "Because.")]
    assert read_csv("Answer,Question\nBecause.,Why?\n") == [("Why?", "Because.")]
    with pytest.raises(IntajError, match="question,answer"):
        read_csv("q,a\nWhy?,Because.\n")
    with pytest.raises(IntajError, match="line 3"):
        read_csv("question,answer\nWhy?,Because.\nHow?,\n")
