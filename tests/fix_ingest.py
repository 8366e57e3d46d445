"""Ingesting one source the way the flow does, with a hook before the swap, and looking at
the chunk set it leaves (the reliability tests cut the database or the disk under it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

from core.errors import IntajError
from core.settings import Settings
from pipeline import status
from pipeline.chunk import ChunkSpec
from pipeline.embed import Embedder
from pipeline.sources import storage_for
from pipeline.stages import chunking, embedding, loading, parsing, storing


def version(n: int, rules: int = 3) -> bytes:
    """Revision ``n`` of a rule book (three rules fit one or two chunks)."""
    text = [
        f"Revision {n}, rule {i}: a bike booked for slot {i} must be collected within"
        f" {10 * n + i} minutes, or the booking lapses and the deposit is kept."
        for i in range(rules)
    ]
    return "\n\n".join(text).encode()


def ingest_once(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    source_id: str,
    *,
    before_store: Callable[[], None] | None = None,
) -> IntajError | None:
    """load -> parse -> chunk -> embed -> store, as the flow runs them; a failure is recorded
    on the source as the flow records it. Returns the failure, if any."""
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_tokens)
    try:
        status.processing(pool, source_id=source_id)
        loaded = loading.load(
            pool, settings, source_id=source_id, spec=spec, model=embedder.model_name
        )
        parsed = parsing.parse(loaded.document, settings)
        chunks = chunking.chunk(parsed, embedder, spec)
        rows, _, _ = embedding.embed(
            pool, embedder, chatbot_id=loaded.source.chatbot_id, chunks=chunks
        )
        if before_store:
            before_store()
        storing.store(pool, embedder, loaded=loaded, rows=rows, run_id=str(uuid.uuid4()))
        status.ready(
            pool, source_id=source_id, fingerprint=loaded.fingerprint,
            size_bytes=loaded.size_bytes, chunk_count=len(rows), model=embedder.model_name,
        )  # fmt: skip
    except IntajError as e:
        code, message = status.describe(e)
        status.failed(pool, source_id=source_id, error_code=code, message=message)
        return e
    return None


def rewrite(settings: Settings, pool: ConnectionPool, source_id: str, data: bytes) -> None:
    """A re-upload: new bytes under the source's storage key."""
    with pool.connection() as conn:
        row = conn.execute("SELECT path FROM data_sources WHERE id = %s", (source_id,)).fetchone()
    assert row is not None
    storage_for(row[0], settings).write(row[0], data)


def chunk_set(pool: ConnectionPool, source_id: str) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT ordinal, content, run_id FROM chunks WHERE source_id = %s ORDER BY ordinal, id",
            (source_id,),
        ).fetchall()


def one_version(rows: list[tuple[Any, ...]]) -> bool:
    """One run's rows, each ordinal once: no mix, no duplicates."""
    return len({r[2] for r in rows}) == 1 and [r[0] for r in rows] == list(range(len(rows)))
