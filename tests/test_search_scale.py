"""Filtered HNSW search at scale (slow: run with `scripts/check --slow`): a chatbot that holds
0.5% of 100,000 chunks still gets k hits, with recall@10 >= 0.95 against exact search."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import numpy as np
import pytest
from psycopg_pool import ConnectionPool

from db import chunks as chunks_db
from db import search as search_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.chunks import ChunkRow

DIMS = 384
TOTAL = 100_000
SMALL = 500  # 0.5%


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.slow
def test_a_small_chatbot_among_100k_chunks_gets_k_hits_with_high_recall(
    pool: ConnectionPool, make_chatbot: Callable[..., Chatbot]
) -> None:
    rng = np.random.default_rng(11)
    model = f"scale-test-{uuid.uuid4().hex[:6]}"  # its own partial index, built after the load
    centres = unit(rng.standard_normal((200, DIMS)))
    small, crowd = make_chatbot(), [make_chatbot() for _ in range(9)]
    owners = [small, *crowd]
    counts = [SMALL] + [(TOTAL - SMALL) // len(crowd)] * len(crowd)
    with pool.connection() as conn:
        for bot, n in zip(owners, counts, strict=True):
            source = sources_db.add(conn, chatbot_id=bot.id, type="txt", path=f"{bot.id}/s/x.txt")
            topics = rng.integers(0, len(centres), size=n)
            vectors = unit(centres[topics] + 0.9 * unit(rng.standard_normal((n, DIMS))))
            rows = [ChunkRow(i, f"chunk {i}", f"h{i}", 3, {}, v) for i, v in enumerate(vectors)]
            chunks_db.replace_source_chunks(
                conn, chatbot_id=bot.id, source_id=source.id, model=model, rows=rows
            )
        chunks_db.ensure_model_index(conn, model=model, dimensions=DIMS)
        conn.execute("ANALYZE chunks")
    recalls = []
    for query in unit(centres[:50] + 0.5 * unit(rng.standard_normal((50, DIMS)))):
        with pool.connection() as conn:
            hits = search_db.search(
                conn, chatbot_id=small.id, model=model, dimensions=DIMS, query_vector=query,
                query_text="", language="simple", k=10, text_weight=0.0,
            )  # fmt: skip
            exact = search_db.exact_vector_ids(
                conn, chatbot_id=small.id, model=model, dimensions=DIMS, query_vector=query, k=10
            )
        assert len(hits) == 10
        recalls.append(len({h.id for h in hits} & set(exact)) / 10)
    with pool.connection() as conn:
        conn.execute("DELETE FROM chunks WHERE embedding_model = %s", (model,))
        conn.execute("DELETE FROM embedding_models WHERE name = %s", (model,))
        conn.execute(f'DROP INDEX IF EXISTS "{chunks_db.index_name(model)}"')
    assert np.mean(recalls) >= 0.95
