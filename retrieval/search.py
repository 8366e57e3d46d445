"""Search one chatbot's knowledge: FAQ entries and document chunks ranked together.

Vector search (HNSW, cosine, iterative index scans so a filtered query still returns k hits)
and Postgres full-text search ranked by BM25 are fused in one SQL statement (``db/search.py``;
the fusion and its weight are settings). Every query is scoped to exactly one chatbot;
filters only narrow it. With ``INTAJ_RERANK_MODEL`` set (and its files available locally), a
cross-encoder reorders the best candidates (``retrieval/rerank.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from psycopg_pool import ConnectionPool

from core.errors import NotFoundError
from core.settings import Settings
from core.types import Hit
from db import chatbots as chatbots_db
from db import chunks as chunks_db
from db import search as search_db
from db.chatbots import Chatbot
from db.search import Filters
from pipeline.embed import Embedder, embedder_of
from pipeline.embed.calibration import calibrated
from retrieval import rerank

Mode = Literal["hybrid", "vector"]
MAX_QUERY_CHARS = 4000


@dataclass(frozen=True)
class Scope:
    """The chatbot a search runs for, with its model."""

    chatbot: Chatbot
    embedder: Embedder


def load_chatbot(pool: ConnectionPool, chatbot_id: str) -> Chatbot:
    """The chatbot to search or answer for, by id (callers holding only an id)."""
    with pool.connection() as conn:
        bot = chatbots_db.get(conn, chatbot_id=chatbot_id)
    if bot is None:
        raise NotFoundError(f"chatbot {chatbot_id} does not exist")
    return bot


def scope_of(chatbot: Chatbot, settings: Settings) -> Scope:
    return Scope(chatbot, embedder_of(chatbot, settings))


def search(
    pool: ConnectionPool,
    settings: Settings,
    *,
    chatbot: Chatbot,
    query: str,
    k: int = 5,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    query_vector: np.ndarray | None = None,
    scope: Scope | None = None,
) -> list[Hit]:
    """The ``k`` best hits for ``query`` in one chatbot, best first (``scope``: the chatbot's,
    when the caller has built it already)."""
    scope = scope or scope_of(chatbot, settings)
    settings = calibrated(settings, scope.embedder.model_name)
    query = query[:MAX_QUERY_CHARS]
    vector = query_vector if query_vector is not None else scope.embedder.embed_queries([query])[0]
    reranker = None
    if settings.rerank_model:
        reranker = rerank.load(settings.rerank_model, settings.embedding_device)
    wanted = max(k, settings.rerank_candidates) if reranker else k
    with pool.connection() as conn:
        dims = chunks_db.model_dimensions(conn, model=scope.embedder.model_name)
        if dims is None:  # nothing ingested with this model yet
            return []
        rows = search_db.search(
            conn,
            chatbot_id=chatbot.id,
            model=scope.embedder.model_name,
            dimensions=dims,
            query_vector=vector,
            query_text=query,
            language=scope.chatbot.language,
            k=wanted * 2,
            text_weight=settings.search_text_weight if mode == "hybrid" else 0.0,
            sentence_weight=settings.search_sentence_weight,
            fusion=settings.search_fusion,
            filters=filters,
        )
    hits = collapse(
        [
            Hit(
                chunk_id=r.id,
                content=r.content,
                score=float(r.similarity),
                source=r.source,
                metadata=r.metadata,
                source_id=r.source_id,
                faq_id=r.faq_id,
                chunk_score=float(r.chunk_similarity),
                coverage=float(r.coverage),
            )
            for r in rows
        ],
        k=wanted,
    )
    if reranker is not None:
        hits = reranker.rerank(query, hits)
    return hits[:k]


def collapse(hits: Sequence[Hit], *, k: int) -> list[Hit]:
    """Drop near-duplicate hits (the same text from another source or an overlap), keep order."""
    seen: set[str] = set()
    kept: list[Hit] = []
    for hit in hits:
        key = " ".join(hit.content.lower().split())[:300]
        if key in seen:
            continue
        seen.add(key)
        kept.append(hit)
        if len(kept) == k:
            break
    return kept
