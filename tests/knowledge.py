"""Test knowledge written straight into the chunk index (real model, real database), for the
retrieval tests that do not need the ingestion flow: tenants, documents and FAQs in seconds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg_pool import ConnectionPool

from core.types import content_hash
from db import chatbots as chatbots_db
from db import chunks as chunks_db
from db import faqs as faqs_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.chunks import ChunkRow
from pipeline.embed import Embedder
from pipeline.faqs import sync


@contextmanager
def tenants(pool: ConnectionPool, *names: str, **options: Any) -> Iterator[list[Chatbot]]:
    """One profile (user) and one chatbot per name, deleted afterwards."""
    owners, bots = [], []
    with pool.connection() as conn:
        for name in names:
            email = f"{name}-{uuid.uuid4().hex[:8]}@test.invalid"
            owner = chatbots_db.create_profile(conn, name=name, email=email)
            owners.append(owner)
            bots.append(chatbots_db.create(conn, user_id=owner, name=name, **options))
    try:
        yield bots
    finally:
        with pool.connection() as conn:
            for owner in owners:
                conn.execute("DELETE FROM profiles WHERE id = %s", (owner,))


def add_document(
    pool: ConnectionPool,
    embedder: Embedder,
    bot: Chatbot,
    name: str,
    passages: Sequence[str],
    metadata: dict[str, Any] | None = None,
) -> str:
    """A data source of ``bot`` whose chunks are ``passages`` (embedded by ``embedder``)."""
    vectors = embedder.embed(list(passages))
    rows = [
        ChunkRow(i, text, content_hash(text), len(text.split()), dict(metadata or {}), vector)
        for i, (text, vector) in enumerate(zip(passages, vectors, strict=True))
    ]
    with pool.connection() as conn:
        source = sources_db.add(conn, chatbot_id=bot.id, type="txt", path=f"{bot.id}/docs/{name}")
        chunks_db.ensure_model_index(
            conn, model=embedder.model_name, dimensions=embedder.dimensions
        )
        conn.commit()
        chunks_db.replace_source_chunks(
            conn, chatbot_id=bot.id, source_id=source.id, model=embedder.model_name, rows=rows
        )
        chatbots_db.set_embedding_model(conn, chatbot_id=bot.id, model=embedder.model_name)
    return source.id


def add_faqs(
    pool: ConnectionPool, embedder: Embedder, bot: Chatbot, pairs: Sequence[tuple[str, str]]
) -> None:
    with pool.connection() as conn:
        for question, answer in pairs:
            faqs_db.add(conn, chatbot_id=bot.id, question=question, answer=answer)
    sync(pool, embedder, chatbot_id=bot.id)
