"""Content identity: whether a source already holds the chunks of exactly these bytes.

Kept free of heavy imports (no parsers, splitters or models), so checking an unchanged upload
costs a hash and one query.
"""

from __future__ import annotations

import hashlib

from psycopg_pool import ConnectionPool

from db import chunks as chunks_db
from db.sources import DataSource

# 2: paragraph-aligned, content-defined chunk boundaries; 3: chunks never cross an HTML
# <section>/<article>
PIPELINE_VERSION = "3"


def fingerprint(data: bytes, *, max_tokens: int, overlap_tokens: int) -> str:
    """The content identity of a file under this pipeline's parsing and chunking."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest}:{max_tokens}:{overlap_tokens}:{PIPELINE_VERSION}"


def is_unchanged(pool: ConnectionPool, source: DataSource, *, fingerprint: str, model: str) -> bool:
    """Whether ``source`` already holds the complete chunk set of content ``fingerprint``
    under ``model`` (so ingesting it again would change nothing)."""
    if not (
        source.content_hash == fingerprint
        and source.embedding_model == model
        and source.chunk_count > 0
    ):
        return False
    with pool.connection() as conn:
        held = chunks_db.count(conn, source_id=source.id)
    return held >= source.chunk_count
