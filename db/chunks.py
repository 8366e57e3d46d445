"""The chunk table: bulk writes with atomic replacement, embedding reuse, and per-model indexes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

if TYPE_CHECKING:  # numpy loads with the first vector: a re-ingest of unchanged files reads none
    import numpy as np

_COPY_COLUMNS = (
    "chatbot_id, source_id, faq_id, ordinal, content, content_hash, tokens, metadata,"
    " embedding_model, embedding, language, run_id, sentence_embeddings"
)
_COPY_TYPES = [
    "uuid", "uuid", "uuid", "int4", "text", "text", "int4", "jsonb",
    "text", "vector", "oid", "uuid", "vector[]",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk ready to be written: content, metadata and its vector."""

    ordinal: int
    content: str
    content_hash: str
    tokens: int
    metadata: dict[str, Any]
    embedding: np.ndarray
    # its sentences' vectors (pipeline/sentences.py), for models that rank by sentence too
    sentence_embeddings: Sequence[np.ndarray] | None = None


def index_name(model: str) -> str:
    return "chunks_hnsw_" + hashlib.sha1(model.encode("utf-8")).hexdigest()[:12]


def ensure_model_index(conn: psycopg.Connection, *, model: str, dimensions: int) -> None:
    """Create the partial HNSW index of ``model`` (cosine) the first time it is used.

    Two first ingests of a new model at once (two uploads taken by a warm worker) would both
    run the CREATE INDEX, and ``IF NOT EXISTS`` is not safe against a concurrent create (one
    of them fails on pg_class's unique index): a transaction-scoped advisory lock on the
    index's name makes the second wait and then find the model registered."""
    name = index_name(model)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
    row = conn.execute(
        "SELECT dimensions FROM embedding_models WHERE name = %s", (model,)
    ).fetchone()
    if row is not None:
        if row[0] != dimensions:
            raise ValueError(
                f"model {model!r} is registered with {row[0]} dimensions, got {dimensions}"
            )
        return
    conn.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {name} ON chunks USING hnsw "
            "((embedding::vector({dims})) vector_cosine_ops) WHERE embedding_model = {model}"
        ).format(name=sql.Identifier(name), dims=sql.Literal(dimensions), model=sql.Literal(model))
    )
    conn.execute(
        "INSERT INTO embedding_models (name, dimensions, index_name) VALUES (%s, %s, %s)"
        " ON CONFLICT (name) DO NOTHING",
        (model, dimensions, name),
    )


def model_dimensions(conn: psycopg.Connection, *, model: str) -> int | None:
    row = conn.execute(
        "SELECT dimensions FROM embedding_models WHERE name = %s", (model,)
    ).fetchone()
    return None if row is None else int(row[0])


def source_embeddings(
    conn: psycopg.Connection, *, chatbot_id: str, model: str
) -> dict[str, list[Any]]:
    """Every chunk vector of a chatbot under ``model`` (as the driver returns them), by source
    id (experiments over whole documents, e.g. bench/centroid.py)."""
    out: dict[str, list[Any]] = {}
    rows = conn.execute(
        "SELECT source_id, embedding FROM chunks"
        " WHERE chatbot_id = %s AND embedding_model = %s AND source_id IS NOT NULL",
        (chatbot_id, model),
    )
    for source_id, embedding in rows:
        out.setdefault(str(source_id), []).append(embedding)
    return out


def existing_embeddings(
    conn: psycopg.Connection, *, chatbot_id: str, model: str, hashes: Iterable[str]
) -> dict[str, np.ndarray]:
    """Vectors this chatbot already holds for these content hashes under ``model``."""
    wanted = list(set(hashes))
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (content_hash) content_hash, embedding FROM chunks"
        " WHERE chatbot_id = %s AND embedding_model = %s AND content_hash = ANY(%s)",
        (chatbot_id, model, wanted),
    ).fetchall()
    return {h: _as_array(v) for h, v in rows}


def existing_sentence_embeddings(
    conn: psycopg.Connection, *, chatbot_id: str, model: str, hashes: Iterable[str]
) -> dict[str, list[np.ndarray]]:
    """The sentence vectors this chatbot already holds for these content hashes under
    ``model`` (chunks stored without them are left out)."""
    wanted = list(set(hashes))
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (content_hash) content_hash, sentence_embeddings FROM chunks"
        " WHERE chatbot_id = %s AND embedding_model = %s AND content_hash = ANY(%s)"
        " AND sentence_embeddings IS NOT NULL",
        (chatbot_id, model, wanted),
    ).fetchall()
    return {h: [_as_array(v) for v in vectors] for h, vectors in rows}


def _as_array(value: Any) -> np.ndarray:
    """A vector as float32 numpy (pgvector's loader returns ``Vector`` objects)."""
    import numpy as np

    array = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(array, dtype=np.float32)


def _copy_rows(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    owner: tuple[str | None, str | None],
    model: str,
    language_oid: int,
    run_id: str | None,
    rows: Sequence[ChunkRow],
) -> None:
    source_id, faq_id = (uuid.UUID(x) if x else None for x in owner)
    bot, run = uuid.UUID(chatbot_id), uuid.UUID(run_id) if run_id else None
    copy_sql = sql.SQL("COPY chunks ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        sql.SQL(_COPY_COLUMNS)
    )
    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
        copy.set_types(_COPY_TYPES)
        for r in rows:
            copy.write_row(
                (
                    bot, source_id, faq_id, r.ordinal,
                    r.content.replace("\x00", ""), r.content_hash, r.tokens,
                    Jsonb(r.metadata), model, r.embedding, language_oid, run,
                    list(r.sentence_embeddings) if r.sentence_embeddings else None,
                )
            )  # fmt: skip


def _language_oid(conn: psycopg.Connection, chatbot_id: str) -> int:
    row = conn.execute("SELECT language::oid FROM chatbots WHERE id = %s", (chatbot_id,)).fetchone()
    if row is None:
        raise LookupError(f"chatbot {chatbot_id} does not exist")
    return int(row[0])


def replace_source_chunks(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    source_id: str,
    model: str,
    rows: Sequence[ChunkRow],
    run_id: str | None = None,
) -> bool:
    """Swap a source's chunks for ``rows`` in one transaction. Readers see old or new, never
    a mix or nothing. The source row is locked first, so concurrent swaps serialise; returns
    False (writing nothing) when the source was deleted meanwhile."""
    with conn.transaction():
        locked = conn.execute(
            "SELECT 1 FROM data_sources WHERE id = %s FOR UPDATE", (source_id,)
        ).fetchone()
        if locked is None:
            return False
        conn.execute(
            "DELETE FROM chunks WHERE source_id = %s AND embedding_model = %s",
            (source_id, model),
        )
        _copy_rows(
            conn,
            chatbot_id=chatbot_id,
            owner=(source_id, None),
            model=model,
            language_oid=_language_oid(conn, chatbot_id),
            run_id=run_id,
            rows=rows,
        )
    return True


def replace_faq_chunks(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    faq_id: str,
    model: str,
    rows: Sequence[ChunkRow],
) -> None:
    with conn.transaction():
        conn.execute(
            "DELETE FROM chunks WHERE faq_id = %s AND embedding_model = %s", (faq_id, model)
        )
        _copy_rows(
            conn,
            chatbot_id=chatbot_id,
            owner=(None, faq_id),
            model=model,
            language_oid=_language_oid(conn, chatbot_id),
            run_id=None,
            rows=rows,
        )


def count(
    conn: psycopg.Connection, *, chatbot_id: str | None = None, source_id: str | None = None
) -> int:
    row = conn.execute(
        "SELECT count(*) FROM chunks WHERE (%(c)s::uuid IS NULL OR chatbot_id = %(c)s)"
        " AND (%(s)s::uuid IS NULL OR source_id = %(s)s)",
        {"c": chatbot_id, "s": source_id},
    ).fetchone()
    return int(row[0]) if row else 0


def sample_contents(
    conn: psycopg.Connection, *, chatbot_id: str, model: str, limit: int = 60
) -> list[str]:
    """Up to ``limit`` of a chatbot's document chunks under ``model``, spread over its sources
    (the first chunks of each): enough to tell what language its documents are in."""
    rows = conn.execute(
        "SELECT content FROM chunks WHERE chatbot_id = %s AND embedding_model = %s"
        " AND source_id IS NOT NULL ORDER BY ordinal, id LIMIT %s",
        (chatbot_id, model, limit),
    ).fetchall()
    return [str(r[0]) for r in rows]


def faq_contents(
    conn: psycopg.Connection, *, chatbot_id: str, model: str
) -> dict[str, tuple[str, str]]:
    """FAQ id -> (content hash, content) of its chunk under ``model``."""
    rows = conn.execute(
        "SELECT faq_id::text, content_hash, content FROM chunks"
        " WHERE chatbot_id = %s AND embedding_model = %s AND faq_id IS NOT NULL",
        (chatbot_id, model),
    ).fetchall()
    return {faq_id: (h, content) for faq_id, h, content in rows}


def passage(
    conn: psycopg.Connection, *, chatbot_id: str, chunk_id: int
) -> tuple[str, dict[str, Any], str] | None:
    """(content, metadata, source) of one chunk of the chatbot; None for any other chunk.
    ``source`` is the data source's path, or ``faq:<id>``."""
    row = conn.execute(
        "SELECT c.content, c.metadata, coalesce(ds.path, 'faq:' || c.faq_id::text)"
        " FROM chunks c LEFT JOIN data_sources ds ON ds.id = c.source_id"
        " WHERE c.id = %s AND c.chatbot_id = %s",
        (chunk_id, chatbot_id),
    ).fetchone()
    return None if row is None else (row[0], dict(row[1]), row[2])


def models_of(conn: psycopg.Connection, *, chatbot_id: str) -> list[str]:
    """The embedding models a chatbot holds chunks of."""
    rows = conn.execute(
        "SELECT DISTINCT embedding_model FROM chunks WHERE chatbot_id = %s ORDER BY 1",
        (chatbot_id,),
    ).fetchall()
    return [r[0] for r in rows]


def embeddings_of(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """The vectors of these chunks, by chunk id (ranking experiments in bench/)."""
    if not ids:
        return {}
    rows = conn.execute("SELECT id, embedding FROM chunks WHERE id = ANY(%s)", (list(ids),))
    return {i: _as_array(v) for i, v in rows}
