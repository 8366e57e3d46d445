"""A model's HNSW index is created once, even when two first ingests of the model start at
the same moment (a warm worker taking two uploads of a new chatbot's model at once): without
a lock, one of the two concurrent ``CREATE INDEX IF NOT EXISTS`` failed on pg_class's unique
index and its source ended ``failed``."""

from __future__ import annotations

import threading
import uuid

from psycopg_pool import ConnectionPool

from db import chunks as chunks_db


def test_two_first_uses_of_a_model_at_once_both_succeed(pool: ConnectionPool) -> None:
    model = f"test-model-{uuid.uuid4().hex[:8]}"
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def first_use() -> None:
        try:
            with pool.connection() as conn:
                start.wait()
                chunks_db.ensure_model_index(conn, model=model, dimensions=8)
                conn.commit()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    name = chunks_db.index_name(model)
    try:
        assert errors == []
        with pool.connection() as conn:
            assert chunks_db.model_dimensions(conn, model=model) == 8
            found = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s", (name,))
            assert found.fetchone() == (1,)
    finally:
        with pool.connection() as conn:
            conn.execute(f'DROP INDEX IF EXISTS "{name}"')
            conn.execute("DELETE FROM embedding_models WHERE name = %s", (model,))


def test_a_connection_returns_to_the_pool_in_transactions(pool: ConnectionPool) -> None:
    """A borrower that switches its connection to autocommit does not hand that to the next
    borrower (the lock above, and every atomic swap, need a transaction)."""
    for _ in range(3 * (pool.max_size or 1)):
        with pool.connection() as conn:
            assert conn.autocommit is False
            conn.autocommit = True
