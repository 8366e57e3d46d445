"""Tenant isolation under the HNSW index: a chatbot's search never returns another chatbot's
chunks, and still returns k hits when another chatbot crowds the neighbourhood of the query."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from psycopg_pool import ConnectionPool

from core.settings import Settings
from core.types import content_hash
from db import chunks as chunks_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.chunks import ChunkRow
from pipeline.embed import Embedder
from retrieval.search import search

FACTS = [
    "Rental bikes must be returned before the shop closes.",
    "Helmets are included free with every rental.",
    "E-bike batteries are charged overnight in the workshop.",
    "Children under twelve ride with a parent or guardian.",
    "Deposits are refunded to the original card within five days.",
    "The workshop services any brand of bicycle.",
    "Gift cards never expire and work in both shops.",
]


def rows_for(texts: list[str], vectors: np.ndarray) -> list[ChunkRow]:
    return [
        ChunkRow(i, t, content_hash(t), len(t.split()), {}, v)
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]


def add_source(pool: ConnectionPool, bot: Chatbot, embedder: Embedder, rows: list[ChunkRow]) -> str:
    with pool.connection() as conn:
        source = sources_db.add(conn, chatbot_id=bot.id, type="txt", path=f"{bot.id}/x/facts.txt")
        chunks_db.ensure_model_index(
            conn, model=embedder.model_name, dimensions=embedder.dimensions
        )
        conn.commit()
        chunks_db.replace_source_chunks(
            conn, chatbot_id=bot.id, source_id=source.id, model=embedder.model_name, rows=rows
        )
    return source.id


def test_search_is_confined_to_one_chatbot_even_when_another_crowds_the_query(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    make_chatbot: Callable[..., Chatbot],
) -> None:
    mine, crowd = make_chatbot(), make_chatbot()
    add_source(pool, mine, embedder, rows_for(FACTS, embedder.embed(FACTS)))
    query = "When do I have to bring the rental bike back?"
    q = embedder.embed_queries([query])[0]
    rng = np.random.default_rng(7)
    noise = rng.normal(scale=0.02, size=(10_500, q.shape[0])).astype(np.float32)
    near = q + noise  # 10,500 chunks closer to the query than anything of mine
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    texts = [f"crowd chunk {i}" for i in range(len(near))]
    add_source(pool, crowd, embedder, rows_for(texts, near))
    dims = embedder.dimensions
    with pool.connection() as conn:
        conn.execute("ANALYZE chunks")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT id FROM chunks WHERE embedding_model = %s"
                f" ORDER BY embedding::vector({dims}) <=> %s::vector({dims}) LIMIT 5",
                (embedder.model_name, q),
            )
        )
    assert "hnsw" in plan  # the index exists and serves this model's queries

    for mode in ("vector", "hybrid"):
        hits = search(pool, settings, chatbot=mine, query=query, k=5, mode=mode)  # type: ignore[arg-type]
        assert len(hits) == 5, mode
        assert all(h.content in FACTS for h in hits), mode
        assert hits[0].content == FACTS[0], mode

    crowd_hits = search(pool, settings, chatbot=crowd, query=query, k=10)
    assert len(crowd_hits) == 10
    assert not any(h.content in FACTS for h in crowd_hits)


def test_filters_only_narrow_the_chatbot_scope(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    make_chatbot: Callable[..., Chatbot],
) -> None:
    from db.search import Filters

    mine, other = make_chatbot(), make_chatbot()
    add_source(pool, mine, embedder, rows_for(FACTS[:3], embedder.embed(FACTS[:3])))
    theirs = add_source(pool, other, embedder, rows_for(FACTS[3:], embedder.embed(FACTS[3:])))
    # Naming the other chatbot's source id in a filter returns nothing, not their chunks.
    hits = search(
        pool, settings, chatbot=mine, query="deposit refund", k=5,
        filters=Filters(source_ids=(theirs,)),
    )  # fmt: skip
    assert hits == []
