"""Re-embedding side by side: the new model's chunks are built beside the old ones, the chatbot
switches in one transaction, and a second build reuses every vector by content hash. The "new
model" is a deterministic fake registered under another name (it reuses the real model's
vectors, so no second model has to be downloaded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import chatbots as chatbots_db
from db import sources as sources_db
from pipeline import reembed
from pipeline.embed import Embedder
from tests.fix_orchestration import upload


class RenamedModel:
    """Another model name over the same vectors, counting what it embeds."""

    def __init__(self, inner: Embedder, name: str):
        self.inner, self.model_name = inner, name
        self.dimensions, self.max_tokens = inner.dimensions, inner.max_tokens
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        return self.inner.embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def models(pool: ConnectionPool, source_id: str) -> dict[str, int]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT embedding_model, count(*) FROM chunks WHERE source_id = %s GROUP BY 1",
            (source_id,),
        ).fetchall()
    return dict(rows)


def test_reembed_builds_beside_then_switches(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    make_chatbot: Any,
    prefect_server: None,
) -> None:
    from flows.ingest import ingest_data_source

    bot = make_chatbot()
    source_id = upload(
        pool, settings, bot.id, "hours.txt", b"The workshop opens at eight on Saturdays.\n"
    )
    ingest_data_source(source_id)
    old = embedder.model_name
    new = RenamedModel(embedder, "fake/renamed-minilm")
    with pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    assert source is not None
    built = reembed.rebuild_source(pool, settings, new, source=source)
    assert built.chunks == models(pool, source_id)[old]
    assert models(pool, source_id) == {old: built.chunks, new.model_name: built.chunks}
    with pool.connection() as conn:  # nothing switched yet
        assert chatbots_db.get(conn, chatbot_id=bot.id).embedding_model in (None, old)  # type: ignore[union-attr]
    again = reembed.rebuild_source(pool, settings, new, source=source)
    assert (again.embedded, again.reused) == (0, built.chunks)  # reused by content hash
    reembed.switch(pool, chatbot_id=bot.id, model=new.model_name, drop=old)
    with pool.connection() as conn:
        assert chatbots_db.get(conn, chatbot_id=bot.id).embedding_model == new.model_name  # type: ignore[union-attr]
        assert sources_db.get(conn, source_id=source_id).embedding_model == new.model_name  # type: ignore[union-attr]
    assert models(pool, source_id) == {new.model_name: built.chunks}
