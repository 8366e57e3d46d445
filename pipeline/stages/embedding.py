"""Embed: a vector per chunk (and per sentence, for models that rank by sentence), reusing
every vector the chatbot already holds for the same content under the same model: unchanged
content is never embedded twice."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np
from psycopg_pool import ConnectionPool

from core.errors import DatabaseError
from core.types import Chunk
from db import chunks as chunks_db
from db.chunks import ChunkRow
from db.connection import failures_as
from pipeline.embed import Embedder
from pipeline.sentences import embedded_sentences

V = TypeVar("V")
EMBED_BATCH = 256
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def embed(
    pool: ConnectionPool,
    embedder: Embedder,
    *,
    chatbot_id: str,
    chunks: Sequence[Chunk],
    progress: Progress | None = None,
    earlier: Mapping[str, np.ndarray] | None = None,
    sentences: bool = False,
) -> tuple[list[ChunkRow], int, int]:
    """Vectors for ``chunks``: reused where the chatbot holds the same content under the same
    model, embedded otherwise. Returns (rows, embedded, reused). ``earlier``: vectors by
    content hash, under the same chatbot and model, of sources this run embedded whose store
    may not have committed yet (the flow stores one source while it embeds the next).
    ``sentences``: also each chunk's sentences' vectors (:func:`sentence_vectors`)."""
    known = _known(pool, chunks_db.existing_embeddings, embedder, chatbot_id, chunks)
    if earlier:
        known = {**earlier, **known}
    missing = list(dict.fromkeys(c.embed_text for c in chunks if c.content_hash not in known))
    fresh: dict[str, np.ndarray] = {}
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start : start + EMBED_BATCH]
        for text, vector in zip(batch, embedder.embed(batch), strict=True):
            fresh[text] = vector
        if progress:
            progress("embed", min(start + EMBED_BATCH, len(missing)), len(missing))
    by_sentence = sentence_vectors(pool, embedder, chatbot_id, chunks) if sentences else {}
    rows = [
        ChunkRow(
            ordinal=c.ordinal,
            content=c.content,
            content_hash=c.content_hash,
            tokens=c.tokens,
            metadata=c.metadata,
            embedding=known[c.content_hash] if c.content_hash in known else fresh[c.embed_text],
            sentence_embeddings=by_sentence.get(c.content_hash),
        )
        for c in chunks
    ]
    reused = sum(1 for c in chunks if c.content_hash in known)
    return rows, len(rows) - reused, reused


def _known(
    pool: ConnectionPool,
    lookup: Callable[..., dict[str, V]],
    embedder: Embedder,
    chatbot_id: str,
    chunks: Sequence[Chunk],
) -> dict[str, V]:
    """What ``lookup`` (a ``db/chunks.py`` query) finds stored for these chunks' hashes under
    the embedder's model, in this chatbot."""
    with failures_as(DatabaseError, "looking up known embeddings"), pool.connection() as conn:
        return lookup(
            conn,
            chatbot_id=chatbot_id,
            model=embedder.model_name,
            hashes=(c.content_hash for c in chunks),
        )


def sentence_vectors(
    pool: ConnectionPool, embedder: Embedder, chatbot_id: str, chunks: Sequence[Chunk]
) -> dict[str, list[np.ndarray]]:
    """The vectors of each chunk's sentences (``pipeline/sentences.py``) by content hash:
    reused where the chatbot holds them for the same content and model, else embedded."""
    known = _known(pool, chunks_db.existing_sentence_embeddings, embedder, chatbot_id, chunks)
    wanted = {
        c.content_hash: found
        for c in chunks
        if c.content_hash not in known and (found := embedded_sentences(c.content))
    }
    texts = list(dict.fromkeys(t for found in wanted.values() for t in found))
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        vectors.update(zip(batch, embedder.embed(batch), strict=True))
    return known | {h: [vectors[t] for t in found] for h, found in wanted.items()}
