"""Search SQL: vector (HNSW, cosine, iterative index scans), full text ranked by BM25, and
both fused in one statement. Every query is scoped to one chatbot in SQL; the filters can only
narrow that scope.

Full text: the query's lexemes (``plainto_tsquery`` with the chatbot's text-search
configuration) match chunks holding any of them; each match is scored by BM25 with
``k1 = 1.2`` and ``b = 0.75`` (chunks end at sections, so their lengths vary: a short answer
that holds the word is not outscored by a long chunk that repeats it), its IDF and the mean
chunk length counted in the same statement over the chatbot's chunks (within the filters):
rare words weigh, words on every page do not. Postgres' own ``ts_rank`` has no IDF, which is
why it lost to pure vector search on the eval set.

Fusion (``fusion``):
- ``"weighted"`` (default): cosine similarity + ``text_weight`` x (BM25 / the best BM25 of the
  query), over the union of both candidate lists (default weight 0.07: full text reorders
  close vector scores, it does not outvote them; the chunk holding a message word for word
  still gets the full text bonus, which a rank-only fusion gives away);
- ``"rrf"``: reciprocal rank fusion, ``1/(60 + rank)`` per list, the text list weighted by
  ``text_weight``.
bench/quality.py and bench/tune_hybrid.py measure both against pure vector search.

The model name and its dimension are inlined as SQL literals (never user input: they come from
the chatbot's configuration), so the planner can match the model's partial HNSW index even
when psycopg prepares the statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import psycopg
from psycopg import sql

RRF_K = 60
BM25_K1 = 1.2
BM25_B = 0.75  # length normalisation against the chatbot's mean chunk length (model tokens)
Fusion = Literal["weighted", "rrf"]


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
    chunk_similarity: float  # the chunk's own vector's (similarity may mix in its sentences)
    coverage: float  # share of the query's words (IDF-weighted, stemmed) the chunk holds


_FILTER_SQL = """
    AND (%(source_ids)s::uuid[] IS NULL OR c.source_id = ANY(%(source_ids)s::uuid[]))
    AND (%(source_types)s::text[] IS NULL OR c.source_id IN
         (SELECT id FROM data_sources WHERE chatbot_id = %(chatbot)s
          AND type = ANY(%(source_types)s::text[])))
    AND (%(kinds)s::text[] IS NULL
         OR ('faq' = ANY(%(kinds)s::text[]) AND c.faq_id IS NOT NULL)
         OR ('document' = ANY(%(kinds)s::text[]) AND c.source_id IS NOT NULL))
"""

# The text ranking: every chunk holding a query lexeme, its term frequencies read from the
# stored tsvector, document frequencies counted over those same chunks (a chunk without any
# query lexeme adds to no df), and the chatbot's chunk count for the IDF. A chunk's coverage:
# the IDF-weighted share of the query's lexemes it holds (a query lexeme no chunk holds weighs
# the most), which the abstention of some models weighs in (retrieval/answer.py).
_HYBRID = """
WITH vec AS (
    SELECT id, row_number() OVER (ORDER BY dist) AS rank FROM (
        SELECT c.id, c.embedding::vector({dims}) <=> %(q)s::vector({dims}) AS dist
        FROM chunks c
        WHERE c.chatbot_id = %(chatbot)s AND c.embedding_model = {model} {filters}
        ORDER BY c.embedding::vector({dims}) <=> %(q)s::vector({dims})
        LIMIT %(n)s
    ) v
), query AS (
    SELECT replace(plainto_tsquery(%(language)s::regconfig, intaj_fold(%(text)s))::text,
                   ' & ', ' | ')::tsquery AS any_term,
           array(SELECT lexeme
                 FROM unnest(to_tsvector(%(language)s::regconfig, intaj_fold(%(text)s))))
             AS lexemes
    WHERE %(use_text)s
), tf AS (
    SELECT c.id, u.lexeme, coalesce(array_length(u.positions, 1), 1) AS f, c.tokens AS dl
    FROM query, chunks c,
         unnest(ts_filter(setweight(c.tsv, 'A', query.lexemes), '{{a}}')) u
    WHERE c.chatbot_id = %(chatbot)s AND c.embedding_model = {model} {filters}
      AND c.tsv @@ query.any_term
), df AS (
    SELECT lexeme, count(*) AS n FROM tf GROUP BY lexeme
), total AS (
    SELECT count(*) AS n, avg(c.tokens) AS avgdl FROM chunks c
    WHERE %(use_text)s AND c.chatbot_id = %(chatbot)s AND c.embedding_model = {model} {filters}
), bm25 AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rank,
           max(score) OVER () AS best
    FROM (
        SELECT tf.id,
               sum(ln(1 + (total.n - df.n + 0.5) / (df.n + 0.5))
                   * tf.f * ({k1} + 1)
                   / (tf.f + {k1} * (1 - {b} + {b} * tf.dl / greatest(total.avgdl, 1)))) AS score
        FROM tf JOIN df USING (lexeme), total
        GROUP BY tf.id
        ORDER BY score DESC, tf.id
        LIMIT %(n)s
    ) s
), idf AS (
    SELECT l.lexeme, ln(1 + (total.n - coalesce(df.n, 0) + 0.5) / (coalesce(df.n, 0) + 0.5)) AS w
    FROM query CROSS JOIN total CROSS JOIN LATERAL unnest(query.lexemes) AS l(lexeme)
    LEFT JOIN df ON df.lexeme = l.lexeme
), coverage AS (
    SELECT tf.id, sum(idf.w) / nullif((SELECT sum(w) FROM idf), 0) AS share
    FROM tf JOIN idf USING (lexeme)
    GROUP BY tf.id
), candidates AS (
    SELECT coalesce(vec.id, bm25.id) AS id, vec.rank AS vec_rank, bm25.rank AS text_rank,
           coalesce(bm25.score / nullif(bm25.best, 0), 0) AS text_score
    FROM vec FULL OUTER JOIN bm25 ON vec.id = bm25.id
), scored AS (
    SELECT c.id, c.content,
           1 - (c.embedding::vector({dims}) <=> %(q)s::vector({dims})) AS chunk_similarity,
           coalesce(cov.share, 0) AS coverage,
           CASE WHEN %(sw)s > 0 AND c.sentence_embeddings IS NOT NULL
                THEN (1 - %(sw)s) * (1 - (c.embedding::vector({dims}) <=> %(q)s::vector({dims})))
                     + %(sw)s * (SELECT max(1 - (e <=> %(q)s::vector({dims})))
                                 FROM unnest(c.sentence_embeddings) e)
                ELSE 1 - (c.embedding::vector({dims}) <=> %(q)s::vector({dims}))
           END AS similarity,
           k.vec_rank, k.text_rank, k.text_score,
           c.metadata, c.source_id, c.faq_id
    FROM candidates k JOIN chunks c ON c.id = k.id
    LEFT JOIN coverage cov ON cov.id = k.id
    WHERE c.chatbot_id = %(chatbot)s
)
SELECT s.id, s.content, s.similarity,
       CASE WHEN %(rrf)s
            THEN coalesce(1.0 / ({rrf_k} + s.vec_rank), 0)
                 + coalesce(%(wt)s / ({rrf_k} + s.text_rank), 0)
            ELSE s.similarity + %(wt)s * s.text_score
       END AS fused,
       s.metadata, s.source_id::text, s.faq_id::text,
       coalesce(ds.path, 'faq:' || s.faq_id::text) AS source,
       s.chunk_similarity, s.coverage
FROM scored s
LEFT JOIN data_sources ds ON ds.id = s.source_id
ORDER BY fused DESC, s.similarity DESC, s.id
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
    text_weight: float,
    sentence_weight: float = 0.0,
    candidates: int = 40,
    fusion: Fusion = "weighted",
    filters: Filters | None = None,
    ef_search: int = 100,
) -> list[Row]:
    """Hybrid search (vector + BM25 full text, fused) within one chatbot.

    ``text_weight=0`` gives pure vector search. With ``sentence_weight`` > 0 a chunk's
    similarity mixes its own vector's with its best sentence's (chunks stored with sentence
    vectors; the candidates are still the chunk-level nearest and the BM25 best). Runs in its
    own transaction so the HNSW settings are local to it (a pooled connection keeps nothing)."""
    filters = filters or Filters()
    statement = sql.SQL(_HYBRID).format(
        dims=sql.Literal(dimensions),
        model=sql.Literal(model),
        rrf_k=sql.Literal(RRF_K),
        k1=sql.Literal(BM25_K1),
        b=sql.Literal(BM25_B),
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
        "rrf": fusion == "rrf",
        "wt": float(text_weight),
        "sw": float(sentence_weight),
        "source_ids": list(filters.source_ids) if filters.source_ids is not None else None,
        "source_types": list(filters.source_types) if filters.source_types is not None else None,
        "kinds": list(filters.kinds) if filters.kinds is not None else None,
    }
    with conn.transaction():
        conn.execute(
            "SELECT set_config('hnsw.iterative_scan', 'strict_order', true),"
            " set_config('hnsw.ef_search', %s, true)",
            (str(ef_search),),
        )
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
