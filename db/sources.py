"""Data sources and their ingestion state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class DataSource:
    id: str
    chatbot_id: str
    type: str
    path: str
    name: str | None
    origin: str | None
    status: str
    error: str | None
    error_code: str | None
    content_hash: str | None
    chunk_count: int
    embedding_model: str | None
    created_at: datetime
    last_ingested_at: datetime | None
    crawl: bool | None = None  # URL sources: crawl the site (None: INTAJ_URL_CRAWL)


_COLUMNS = (
    "id::text, chatbot_id::text, type, path, name, origin, status, error, error_code,"
    " content_hash, chunk_count, embedding_model, created_at, last_ingested_at, crawl"
)


def _row(row: tuple[Any, ...]) -> DataSource:
    return DataSource(*row)


def add(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    type: str,
    path: str,
    name: str | None = None,
    origin: str | None = None,
    crawl: bool | None = None,
) -> DataSource:
    row = conn.execute(
        "INSERT INTO data_sources (chatbot_id, type, path, name, origin, crawl)"
        f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (chatbot_id, type, path, name, origin, crawl),
    ).fetchone()
    assert row is not None
    return _row(row)


def get(conn: psycopg.Connection, *, source_id: str) -> DataSource | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM data_sources WHERE id = %s", (source_id,)
    ).fetchone()
    return None if row is None else _row(row)


def find_by_origin(conn: psycopg.Connection, *, chatbot_id: str, origin: str) -> DataSource | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM data_sources WHERE chatbot_id = %s AND origin = %s"
        " ORDER BY created_at LIMIT 1",
        (chatbot_id, origin),
    ).fetchone()
    return None if row is None else _row(row)


def list_for(conn: psycopg.Connection, *, chatbot_id: str) -> list[DataSource]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM data_sources WHERE chatbot_id = %s ORDER BY created_at, id",
        (chatbot_id,),
    ).fetchall()
    return [_row(r) for r in rows]


def matching(conn: psycopg.Connection, *, ref: str, chatbot_id: str | None) -> list[DataSource]:
    """The sources (of ``chatbot_id``, or of every chatbot when None) whose name, path or URL
    is ``ref``, or whose stored file is called ``ref`` (the last part of its key), oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM data_sources WHERE (%(bot)s::uuid IS NULL OR chatbot_id ="
        " %(bot)s::uuid) AND (name = %(ref)s OR path = %(ref)s OR (length(path) >"
        " length(%(ref)s) AND right(path, length(%(ref)s) + 1) = '/' || %(ref)s))"
        " ORDER BY created_at, id",
        {"bot": chatbot_id, "ref": ref},
    ).fetchall()
    return [_row(r) for r in rows]


def set_path(conn: psycopg.Connection, *, source_id: str, path: str) -> None:
    conn.execute(
        "UPDATE data_sources SET path = %s, updated_at = now() WHERE id = %s", (path, source_id)
    )


def mark_pending(conn: psycopg.Connection, *, source_id: str) -> None:
    conn.execute(
        "UPDATE data_sources SET status = 'pending', updated_at = now() WHERE id = %s",
        (source_id,),
    )


def mark_processing(conn: psycopg.Connection, *, source_id: str) -> None:
    conn.execute(
        "UPDATE data_sources SET status = 'processing', error = NULL, error_code = NULL,"
        " updated_at = now() WHERE id = %s",
        (source_id,),
    )


def mark_ready(
    conn: psycopg.Connection,
    *,
    source_id: str,
    content_hash: str,
    size_bytes: int,
    chunk_count: int,
    model: str,
) -> None:
    conn.execute(
        "UPDATE data_sources SET status = 'ready', error = NULL, error_code = NULL,"
        " content_hash = %s, size_bytes = %s, chunk_count = %s, embedding_model = %s,"
        " last_ingested_at = now(), updated_at = now() WHERE id = %s",
        (content_hash, size_bytes, chunk_count, model, source_id),
    )


def mark_failed(conn: psycopg.Connection, *, source_id: str, code: str, error: str) -> None:
    conn.execute(
        "UPDATE data_sources SET status = 'failed', error = %s, error_code = %s,"
        " updated_at = now() WHERE id = %s",
        (error, code, source_id),
    )


def delete(conn: psycopg.Connection, *, source_id: str) -> bool:
    cur = conn.execute("DELETE FROM data_sources WHERE id = %s", (source_id,))
    return cur.rowcount > 0


def set_crawl(conn: psycopg.Connection, *, source_id: str, crawl: bool | None) -> None:
    conn.execute("UPDATE data_sources SET crawl = %s WHERE id = %s", (crawl, source_id))


def content_hashes(
    conn: psycopg.Connection, *, chatbot_id: str, lock: bool = False
) -> dict[str, str | None]:
    """Source id -> content hash of a chatbot's sources; ``lock`` holds their rows (FOR UPDATE)
    until the transaction ends, so no ingestion swaps chunks meanwhile."""
    rows = conn.execute(
        "SELECT id::text, content_hash FROM data_sources WHERE chatbot_id = %s ORDER BY id"
        + (" FOR UPDATE" if lock else ""),
        (chatbot_id,),
    ).fetchall()
    return {source_id: digest for source_id, digest in rows}


# Storage garbage collection (pipeline/sources/gc.py). A local path has no scheme, or local://.
_LOCAL_PATH = "(s.path !~ '^[A-Za-z][A-Za-z0-9+.-]*://' OR s.path LIKE 'local://%%')"
_EXPIRED_FAILED = (
    "s.status = 'failed' AND s.chunk_count = 0"
    " AND s.updated_at < now() - make_interval(secs => %(secs)s)"
    f" AND {_LOCAL_PATH}"  # and no other source names the same file:
    " AND NOT EXISTS (SELECT 1 FROM data_sources o WHERE o.id <> s.id"
    " AND regexp_replace(o.path, '^local://', '') = regexp_replace(s.path, '^local://', ''))"
)


def local_paths(conn: psycopg.Connection) -> set[str]:
    """The paths of every data source stored in the local storage (as written: a key, or
    ``local://`` and a key)."""
    rows = conn.execute(f"SELECT DISTINCT s.path FROM data_sources s WHERE {_LOCAL_PATH}", {})
    return {r[0] for r in rows.fetchall()}


def expired_failed(conn: psycopg.Connection, *, older_than_seconds: float) -> list[tuple[str, str]]:
    """(id, path) of the locally stored sources failed for over ``older_than_seconds`` that hold
    no chunks, the oldest first."""
    rows = conn.execute(
        f"SELECT s.id::text, s.path FROM data_sources s WHERE {_EXPIRED_FAILED}"
        " ORDER BY s.updated_at, s.id",
        {"secs": older_than_seconds},
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def lock_expired_failed(
    conn: psycopg.Connection, *, source_id: str, path: str, older_than_seconds: float
) -> bool:
    """Lock the source's row (until the transaction ends) if it still is what
    :func:`expired_failed` found, at ``path``; False (nothing locked) otherwise."""
    row = conn.execute(
        f"SELECT 1 FROM data_sources s WHERE s.id = %(id)s AND s.path = %(path)s"
        f" AND {_EXPIRED_FAILED} FOR UPDATE OF s",
        {"id": source_id, "path": path, "secs": older_than_seconds},
    ).fetchone()
    return row is not None


def sees_every_source(conn: psycopg.Connection) -> bool:
    """Whether this connection's role sees every data source (no row-level security applies)."""
    row = conn.execute("SELECT row_security_active('data_sources')").fetchone()
    return row is not None and not row[0]


def database_identity(conn: psycopg.Connection) -> str:
    """Which database this is, the same through any URL: its cluster's system identifier and
    its name (where the role may not read the identifier: host, port and name)."""
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT system_identifier::text || '/' || current_database()"
                " FROM pg_control_system()"
            ).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        row = None
    if row is not None:
        return str(row[0])
    return f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
