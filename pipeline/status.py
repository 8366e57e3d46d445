"""A data source's ingestion status, moved in one place: ``processing`` when its run starts,
then ``ready`` (stored, or unchanged) or ``failed`` (the previous chunks stay), all three by
the run (``pipeline/run/job.py``); ``pending`` again when its bytes change (a re-upload:
``pipeline/sources/registration.py``, the database webhook). tests/layers.py holds the rule:
no other module writes a status.

The upload trigger's claim (``db/dispatch.py``) also moves ``pending`` to ``processing``, in
one conditional UPDATE, so that of several listeners one owns the source; the run sets it
again here (a run nobody claimed: the CLI, a rerun from Prefect's UI)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from core.errors import DatabaseError, IntajError, NotFoundError, StoreError
from db import sources as sources_db
from db.connection import failures_as
from db.sources import DataSource


def pending(pool: ConnectionPool, *, source_id: str) -> None:
    """The source is to be ingested again (a re-upload): the upload trigger takes it."""
    with failures_as(DatabaseError, "marking the source pending"), pool.connection() as conn:
        sources_db.mark_pending(conn, source_id=source_id)


def processing(pool: ConnectionPool, *, source_id: str) -> DataSource:
    """The source, now ``processing``; ``not_found`` if it is gone."""
    with failures_as(DatabaseError, "loading the source"), pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
        if source is None:
            raise NotFoundError(f"data source {source_id} does not exist (deleted?)")
        sources_db.mark_processing(conn, source_id=source_id)
    return source


def ready(
    pool: ConnectionPool,
    *,
    source_id: str,
    fingerprint: str,
    size_bytes: int,
    chunk_count: int,
    model: str,
) -> None:
    """The source's chunks (``chunk_count``, under ``model``) are those of ``fingerprint``."""
    with failures_as(StoreError, "marking the source ready"), pool.connection() as conn:
        sources_db.mark_ready(
            conn,
            source_id=source_id,
            content_hash=fingerprint,
            size_bytes=size_bytes,
            chunk_count=chunk_count,
            model=model,
        )


def failed(pool: ConnectionPool, *, source_id: str, error_code: str, message: str) -> None:
    """Record a failure (:func:`describe` gives its code and message) on the source; the
    previous chunks stay."""
    with failures_as(DatabaseError, "marking the source failed"), pool.connection() as conn:
        sources_db.mark_failed(conn, source_id=source_id, code=error_code, error=message)


def describe(error: BaseException) -> tuple[str, str]:
    """The (code, message) a failure is recorded with."""
    if isinstance(error, IntajError):
        return error.code, error.message
    return "internal_error", f"{type(error).__name__}: {error}"
