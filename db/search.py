"""Search SQL: vector (HNSW, cosine, iterative index scans), full text, and both fused by
reciprocal rank fusion in one statement. Every query is scoped to one chatbot in SQL; the
filters can only narrow that scope.

The model name and its dimension are inlined as SQL literals (never user input: they come from
the chatbot's configuration), so the planner can match the model's partial HNSW index even
when psycopg prepares the statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

RRF_K = 60


@dataclass(frozen=True, slots=True)
class Filters:
    """The allow-listed metadata filters. All optional; each narrows the chatbot's scope."""

    source_ids: tuple[str, ...] | None = None
    source_types: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None  # "document", "faq"


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    content: str
    similarity: float
    fused: float
    metadata: dict[str, Any]
    source_id: str | None
    faq_id: str | None
    source: str


_FILTER_SQL = """
    AND (%(source_ids)s::uuid[] IS NULL OR c.source_id = ANY(%(source_ids)s::uuid[]))
    AND (%(source_types)s::text[] IS NULL OR c.source_id IN
         (SELECT id FROM data_sources WHERE chatbot_id = %(chatbot)s
          AND type = ANY(%(source_types)s::text[])))
    AND (%(kinds)s::text[] IS NULL
         OR ('faq' = ANY(%(kinds)s::text[]) AND c.faq_id IS NOT NULL)
         OR ('document' = ANY(%(kinds)s::text[]) AND c.source_id IS NOT NULL))
"""

_HYBRID = """
WITH vec AS (
    SELECT id, row_number() OVER (ORDER BY dist) AS rank FROM (
        SELECT c.id, c.embedding::vector({dims}) <=> %(q)s::vector({dims}) AS dist
        FROM chunks c
        WHERE c.chatbot_id = %(chatbot)s AND c.embedding_model = {model} {filters}
        ORDER BY c.embedding::vector({dims}) <=> %(q)s::vector({dims})
        LIMIT %(n)s
    ) v
), fts AS (
    SELECT id, row_number() OVER (ORDER BY r DESC) AS rank FROM (
        SELECT c.id, ts_rank_cd(c.tsv, query) AS r
        FROM chunks c, CAST(CASE WHEN %(match_all)s
            THEN websearch_to_tsquery(%(language)s::regconfig, %(text)s)::text
            ELSE replace(plainto_tsquery(%(language)s::regconfig, %(text)s)::text, ' & ', ' | ')
        END AS tsquery) query
        WHERE c.chatbot_id = %(chatbot)s AND c.embedding_model = {model} {filters}
          AND %(use_text)s AND c.tsv @@ query
        ORDER BY r DESC
        LIMIT %(n)s
    ) t
), fused AS (
    SELECT coalesce(vec.id, fts.id) AS id,
           coalesce(%(wv)s / ({rrf} + vec.rank), 0)
             + coalesce(%(wt)s / ({rrf} + fts.rank), 0) AS fused
    FROM vec FULL OUTER JOIN fts ON vec.id = fts.id
)
SELECT c.id, c.content,
       1 - (c.embedding::vector({dims}) <=> %(q)s::vector({dims})) AS similarity,
       f.fused, c.metadata, c.source_id::text, c.faq_id::text,
       coalesce(ds.path, 'faq:' || c.faq_id::text) AS source
FROM fused f
JOIN chunks c ON c.id = f.id
LEFT JOIN data_sources ds ON ds.id = c.source_id
WHERE c.chatbot_id = %(chatbot)s
ORDER BY f.fused DESC, similarity DESC
LIMIT %(k)s
"""


def search(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    model: str,
    dimensions: int,
    query_vector: np.ndarray,
    query_text: str,
    language: str,
    k: int,
    candidates: int = 40,
    text_weight: float = 1.0,
    filters: Filters | None = None,
    ef_search: int = 100,
    match_all: bool = False,
) -> list[Row]:
    """Hybrid search (vector + full text, fused by RRF) within one chatbot.

    ``text_weight=0`` gives pure vector search. Runs in its own transaction so the HNSW
    settings are local to it (a pooled connection keeps nothing)."""
    filters = filters or Filters()
    statement = sql.SQL(_HYBRID).format(
        dims=sql.Literal(dimensions),
        model=sql.Literal(model),
        rrf=sql.Literal(RRF_K),
        filters=sql.SQL(_FILTER_SQL),
    )
    params = {
        "q": query_vector,
        "chatbot": chatbot_id,
        "n": max(candidates, k),
        "k": k,
        "text": query_text,
        "language": language,
        "use_text": text_weight > 0,
        "match_all": match_all,
        "wv": 1.0,
        "wt": float(text_weight),
        "source_ids": list(filters.source_ids) if filters.source_ids is not None else None,
        "source_types": list(filters.source_types) if filters.source_types is not None else None,
        "kinds": list(filters.kinds) if filters.kinds is not None else None,
    }
    with conn.transaction():
        conn.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)")
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
        rows = conn.execute(statement, params).fetchall()
    return [Row(*r) for r in rows]


def exact_vector_ids(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    model: str,
    dimensions: int,
    query_vector: np.ndarray,
    k: int,
) -> list[int]:
    """Ground truth for recall checks: exact nearest neighbours, no index."""
    statement = sql.SQL(
        "SELECT id FROM chunks WHERE chatbot_id = %s AND embedding_model = {model}"
        " ORDER BY embedding::vector({dims}) <=> %s::vector({dims}) LIMIT %s"
    ).format(dims=sql.Literal(dimensions), model=sql.Literal(model))
    with conn.transaction():
        conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
        rows = conn.execute(statement, (chatbot_id, query_vector, k)).fetchall()
    return [int(r[0]) for r in rows]
