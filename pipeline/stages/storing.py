"""Store: one transaction swaps a source's chunks under the model (creating the model's index
on first use); readers see the old set or the new one, never a mix or nothing."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import ConnectionPool

from core.errors import StoreError
from db import chunks as chunks_db
from db.chunks import ChunkRow
from db.connection import failures_as
from db.sources import DataSource
from pipeline.embed import Embedder
from pipeline.stages.loading import Loaded


def write_chunks(
    pool: ConnectionPool,
    embedder: Embedder,
    *,
    source: DataSource,
    rows: Sequence[ChunkRow],
    run_id: str | None = None,
) -> None:
    """Swap ``source``'s chunks under the embedder's model for ``rows`` in one transaction
    (creating the model's index on first use); ``source_deleted`` if the source is gone,
    ``disk_full`` or ``database_unavailable`` (transient) if the database fails under it."""
    with failures_as(StoreError, "storing the chunks"), pool.connection() as conn:
        chunks_db.ensure_model_index(
            conn, model=embedder.model_name, dimensions=embedder.dimensions
        )
        conn.commit()
        written = chunks_db.replace_source_chunks(
            conn,
            chatbot_id=source.chatbot_id,
            source_id=source.id,
            model=embedder.model_name,
            rows=rows,
            run_id=run_id,
        )
    if not written:
        raise StoreError(
            f"data source {source.id} was deleted during ingestion; nothing was written",
            code="source_deleted",
            transient=False,
        )


def store(
    pool: ConnectionPool,
    embedder: Embedder,
    *,
    loaded: Loaded,
    rows: Sequence[ChunkRow],
    run_id: str | None,
) -> None:
    """Swap the source's chunks for ``rows`` (its status is the run's: pipeline/run/job.py)."""
    write_chunks(pool, embedder, source=loaded.source, rows=rows, run_id=run_id)
