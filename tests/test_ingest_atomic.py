"""Re-ingestion is atomic and serialised (test plan §6.4 R1, R2, R9; DESIGN invariants 2 and 4),
and deletes cascade. The stage functions run directly (the flow runs the same functions as
tasks), with the real model and the real database; threads stand in for concurrent workers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from psycopg_pool import ConnectionPool

from core.errors import EmbeddingError, StoreError
from core.settings import Settings
from db import chatbots as chatbots_db
from db import faqs as faqs_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.connection import connect, database_url
from pipeline import faqs, status
from pipeline.chunk import ChunkSpec
from pipeline.embed import Embedder
from pipeline.sources import storage_for
from pipeline.stages import chunking, embedding, loading, parsing, storing
from tests.fix_orchestration import upload


@pytest.fixture(scope="module")
def fast(settings: Settings) -> Settings:
    """Parsing in-process: these tests are about the store, not the sandbox."""
    return settings.model_copy(update={"parse_sandbox": False})


def version(n: int) -> bytes:
    """Version ``n`` of a document: its chunk count and text change with ``n``."""
    paragraphs = [
        f"Revision {n}, rule {i}: bikes booked for the {i}th slot of the day must be collected"
        f" within {n + i} minutes of the start, or the booking lapses and the deposit is kept."
        for i in range(3 + n % 5)
    ]
    return "\n\n".join(paragraphs).encode()


def rewrite(settings: Settings, pool: ConnectionPool, source_id: str, data: bytes) -> None:
    with pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    assert source is not None
    storage_for(source.path, settings).write(source.path, data)


def run_once(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    source_id: str,
    *,
    before_store: Callable[[], None] | None = None,
) -> int:
    """load -> parse -> chunk -> embed -> store, as the flow runs them. Returns chunks written."""
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_tokens)
    status.processing(pool, source_id=source_id)
    loaded = loading.load(pool, settings, source_id=source_id, spec=spec, model=embedder.model_name)
    parsed = parsing.parse(loaded.document, settings, loaded.pages)
    chunks = chunking.chunk(parsed, embedder, spec)
    rows, _, _ = embedding.embed(pool, embedder, chatbot_id=loaded.source.chatbot_id, chunks=chunks)
    if before_store:
        before_store()
    storing.store(pool, embedder, loaded=loaded, rows=rows, run_id=str(uuid.uuid4()))
    status.ready(
        pool, source_id=source_id, fingerprint=loaded.fingerprint,
        size_bytes=loaded.size_bytes, chunk_count=len(rows), model=embedder.model_name,
    )  # fmt: skip
    return len(rows)


def snapshot(pool: ConnectionPool, source_id: str) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT id, ordinal, content_hash, run_id FROM chunks WHERE source_id = %s"
            " ORDER BY ordinal",
            (source_id,),
        ).fetchall()


@pytest.fixture
def source(
    make_chatbot: Callable[..., Chatbot], pool: ConnectionPool, fast: Settings
) -> tuple[Chatbot, str]:
    bot = make_chatbot()
    return bot, upload(pool, fast, bot.id, "rules.txt", version(0))


def test_readers_see_one_whole_set_through_20_reingestions(
    source: tuple[Chatbot, str], pool: ConnectionPool, fast: Settings, embedder: Embedder
) -> None:
    _, source_id = source
    run_once(pool, fast, embedder, source_id)
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def read() -> None:
        with connect(database_url(fast), autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*), count(DISTINCT run_id) FROM chunks WHERE source_id = %s",
                    (source_id,),
                ).fetchone()
                assert row is not None
                seen.append((row[0], row[1]))
                time.sleep(0.005)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # At least 20 swaps, and on until the reader has looked 100 times (a faster embedder
        # means more swaps, not fewer looks).
        n = 0
        while n < 20 or (len(seen) < 100 and n < 400):
            n += 1
            rewrite(fast, pool, source_id, version(n))
            run_once(pool, fast, embedder, source_id)
    finally:
        stop.set()
        reader.join()
    assert len(seen) >= 100
    assert all(count > 0 and runs == 1 for count, runs in seen), {s for s in seen if s[1] != 1}
    assert len({count for count, _ in seen}) >= 2  # the reader saw the sets change


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_ingestions_of_one_source_leave_one_set(
    source: tuple[Chatbot, str],
    pool: ConnectionPool,
    fast: Settings,
    embedder: Embedder,
    workers: int,
) -> None:
    _, source_id = source
    rewrite(fast, pool, source_id, version(3))
    gate = threading.Barrier(workers)
    written: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            written.append(run_once(pool, fast, embedder, source_id, before_store=gate.wait))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = snapshot(pool, source_id)
    assert len({r[3] for r in rows}) == 1
    assert [r[1] for r in rows] == list(range(len(rows))) == list(range(written[0]))
    with pool.connection() as conn:
        state = sources_db.get(conn, source_id=source_id)
    assert state is not None and (state.status, state.chunk_count) == ("ready", len(rows))


class BrokenEmbedder:
    """The real model's identity, but every call fails as a provider outage would."""

    def __init__(self, real: Embedder):
        self.model_name, self.dimensions, self.max_tokens = (
            real.model_name, real.dimensions, real.max_tokens,
        )  # fmt: skip
        self.count_tokens = real.count_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise EmbeddingError("provider down", code="provider_unavailable", transient=True)

    embed_queries = embed


def test_a_failed_run_leaves_the_previous_set(
    source: tuple[Chatbot, str], pool: ConnectionPool, fast: Settings, embedder: Embedder
) -> None:
    _, source_id = source
    run_once(pool, fast, embedder, source_id)
    before = snapshot(pool, source_id)
    rewrite(fast, pool, source_id, version(4))
    with pytest.raises(EmbeddingError):
        run_once(pool, fast, BrokenEmbedder(embedder), source_id)
    assert snapshot(pool, source_id) == before


def test_deleting_the_source_during_ingestion_resurrects_nothing(
    source: tuple[Chatbot, str], pool: ConnectionPool, fast: Settings, embedder: Embedder
) -> None:
    bot, source_id = source
    run_once(pool, fast, embedder, source_id)
    rewrite(fast, pool, source_id, version(2))

    def delete() -> None:
        with pool.connection() as conn:
            assert sources_db.delete(conn, source_id=source_id)

    with pytest.raises(StoreError) as caught:
        run_once(pool, fast, embedder, source_id, before_store=delete)
    assert caught.value.code == "source_deleted"
    assert "deleted during ingestion" in caught.value.message
    assert snapshot(pool, source_id) == []
    with pool.connection() as conn:
        left = conn.execute("SELECT count(*) FROM chunks WHERE chatbot_id = %s", (bot.id,))
        assert left.fetchone() == (0,)


def test_a_delete_waits_for_a_swap_in_progress_and_then_wins(
    source: tuple[Chatbot, str], pool: ConnectionPool, fast: Settings, embedder: Embedder
) -> None:
    """A delete that arrives while the swap holds the source row waits, then removes the
    new set: the source ends deleted with no chunks, whichever commits first."""
    _, source_id = source
    started = threading.Event()

    def delete_soon() -> None:
        started.wait()
        time.sleep(0.05)
        with pool.connection() as conn:
            sources_db.delete(conn, source_id=source_id)

    deleter = threading.Thread(target=delete_soon)
    deleter.start()
    try:
        run_once(pool, fast, embedder, source_id, before_store=started.set)
    except StoreError as e:
        assert e.code == "source_deleted"
    deleter.join()
    assert snapshot(pool, source_id) == []


def test_deletes_cascade_to_chunks(
    source: tuple[Chatbot, str], pool: ConnectionPool, fast: Settings, embedder: Embedder
) -> None:
    bot, source_id = source
    run_once(pool, fast, embedder, source_id)
    other = upload(pool, fast, bot.id, "other.txt", version(7))
    run_once(pool, fast, embedder, other)
    with pool.connection() as conn:
        kept = faqs_db.add(conn, chatbot_id=bot.id, question="Do you rent tandems?", answer="Yes.")
        gone = faqs_db.add(conn, chatbot_id=bot.id, question="Open on Mondays?", answer="No.")
    faqs.sync(pool, embedder, chatbot_id=bot.id)

    def count(where: str, value: str) -> int:
        with pool.connection() as conn:
            row = conn.execute(f"SELECT count(*) FROM chunks WHERE {where} = %s", (value,))
            return int(row.fetchone()[0])  # type: ignore[index]

    assert count("source_id", source_id) > 0 and count("faq_id", gone.id) == 1
    with pool.connection() as conn:
        sources_db.delete(conn, source_id=source_id)
        faqs_db.delete(conn, faq_id=gone.id)
    assert count("source_id", source_id) == 0 and count("faq_id", gone.id) == 0
    assert count("source_id", other) > 0 and count("faq_id", kept.id) == 1

    with pool.connection() as conn:
        chatbots_db.delete(conn, chatbot_id=bot.id)
        owned = {
            table: conn.execute(
                f"SELECT count(*) FROM {table} WHERE chatbot_id = %s", (bot.id,)
            ).fetchone()
            for table in ("chunks", "data_sources", "faqs", "ingestion_runs", "messages")
        }
    assert owned == dict.fromkeys(owned, (0,))
