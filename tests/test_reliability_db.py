"""The database fails under a running ingestion (test plan §6.4 R4).

Two faults: the server crashes and restarts (``pg_ctl -m immediate restart``: every process
killed, no checkpoint, crash recovery on start), or a connection is cut with
``pg_terminate_backend``. Each hits either between transactions (the pool holds dead
connections) or in the middle of the chunk swap (the old rows deleted, the new ones being
copied in). What must hold: the pool recovers on its own (its ``check`` drops dead
connections); a cut swap leaves the previous version whole; the source ends ``failed`` with a
transient ``database_unavailable`` (which the flow's store task retries), not ``processing``;
the next run converges to exactly one version with no duplicate rows.

The server is this module's own (tests/fix_pgserver.py), so crashing it leaves the session's
shared server alone. The stages run as the flow runs them (flows/ingest.py runs the same
functions as tasks and records a failure with ``pipeline.status.failed``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import httpx
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from core.errors import IntajError
from core.settings import Settings
from db import open_pool
from db.chatbots import Chatbot
from intaj.http import create_app
from pipeline.embed import Embedder
from retrieval.search import search
from tests.fix_api import SERVICE_KEY, api_settings
from tests.fix_ingest import chunk_set, ingest_once, one_version, rewrite, version
from tests.fix_orchestration import status_of, upload, wait_for
from tests.fix_pgserver import OwnServer, own_server, scratch
from tests.knowledge import add_document, tenants
from tests.servers.asgi import serving

GATE = 4242  # the advisory lock that holds inserts into chunks while a test keeps it


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    with scratch("intaj-r4-") as folder, own_server(folder / "pgdata") as server:
        yield server


@pytest.fixture(scope="module")
def own(settings: Settings, server: OwnServer) -> Settings:
    """The session's settings on this module's server; parsing in-process (not the point)."""
    return settings.model_copy(update={"database_url": server.url, "parse_sandbox": False})


@pytest.fixture(scope="module")
def db(own: Settings) -> ConnectionPool:
    return open_pool(own)  # the product's pool, migrations applied


@pytest.fixture(scope="module")
def bot(db: ConnectionPool) -> Iterator[Chatbot]:
    with tenants(db, "r4-shop") as (bot,):
        yield bot


@contextmanager
def swap_gate(server: OwnServer) -> Iterator[Callable[[], int]]:
    """While the block runs, an insert into ``chunks`` waits at its start (a statement trigger
    takes an advisory lock the block holds). A swap that gets there has deleted the source's
    old rows and waits, transaction open. Yields a function that returns the waiting
    backend's pid once one waits."""
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION swap_gate() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_advisory_xact_lock_shared({GATE}); RETURN NULL; END $$;"
            " CREATE TRIGGER swap_gate BEFORE INSERT ON chunks"
            " FOR EACH STATEMENT EXECUTE FUNCTION swap_gate()"
        )
    holder = psycopg.connect(server.url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (GATE,))

    def waiting() -> int:
        def swap_pid() -> int | None:
            with psycopg.connect(server.url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s"
                    " AND NOT granted",
                    (GATE,),
                ).fetchone()
            return None if row is None else int(row[0])

        pid = wait_for(swap_pid, timeout=30, every=0.02)
        assert pid is not None
        return pid

    try:
        yield waiting
    finally:
        with suppress(psycopg.OperationalError):  # gone if the server crashed
            holder.close()
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER swap_gate ON chunks; DROP FUNCTION swap_gate()")


def deleted_by(server: OwnServer, pid: int, source_id: str) -> int:
    """How many of the source's rows backend ``pid`` has deleted in its open transaction
    (a row's ``xmax`` is the id of the transaction deleting it, visible before it commits)."""
    with psycopg.connect(server.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM chunks c JOIN pg_stat_activity a ON c.xmax = a.backend_xid"
            " WHERE a.pid = %s AND c.source_id = %s",
            (pid, source_id),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("fault", ["restart", "terminate"])
def test_a_fault_between_transactions_costs_nothing(
    fault: str,
    server: OwnServer,
    own: Settings,
    db: ConnectionPool,
    bot: Chatbot,
    embedder: Embedder,
) -> None:
    """(a) The server crashes and restarts, or every pooled connection is terminated, while
    no transaction is open: between two ingestions, and while a source is being embedded.
    The pool finds its connections dead, replaces them, and both ingestions succeed."""
    cut = server.crash_restart if fault == "restart" else server.terminate
    source_id = upload(db, own, bot.id, f"rules-{fault}.txt", version(1))
    assert ingest_once(db, own, embedder, source_id) is None
    lost = db.get_stats().get("connections_lost", 0)
    cut()  # between ingestions
    rewrite(own, db, source_id, version(2))
    assert ingest_once(db, own, embedder, source_id, before_store=cut) is None  # mid-embedding
    assert db.get_stats()["connections_lost"] > lost  # the pool's check found them dead
    assert status_of(db, source_id) == ("ready", None)
    rows = chunk_set(db, source_id)
    assert one_version(rows) and all(c.startswith("Revision 2") for _, c, _ in rows)
    hits = search(db, own, chatbot=bot, query="collected within 21 minutes", k=1)
    assert hits and "Revision 2, rule 1" in hits[0].content


@pytest.mark.parametrize("fault", ["restart", "terminate"])
def test_a_swap_cut_off_midway_keeps_the_old_version_and_a_rerun_converges(
    fault: str,
    server: OwnServer,
    own: Settings,
    db: ConnectionPool,
    bot: Chatbot,
    embedder: Embedder,
) -> None:
    """(b) The fault hits while the swap's transaction is open, after it deleted the old rows
    and while it copies the new ones in."""
    source_id = upload(db, own, bot.id, f"swap-{fault}.txt", version(1))
    assert ingest_once(db, own, embedder, source_id) is None
    before = chunk_set(db, source_id)
    rewrite(own, db, source_id, version(2))
    failures: list[IntajError | None] = []
    with swap_gate(server) as waiting:
        worker = threading.Thread(
            target=lambda: failures.append(ingest_once(db, own, embedder, source_id))
        )
        worker.start()
        pid = waiting()
        assert deleted_by(server, pid, source_id) == len(before)  # mid-swap, uncommitted
        if fault == "restart":
            server.crash_restart()
        else:
            server.terminate(pid)
        worker.join()
    [error] = failures
    assert error is not None and (error.code, error.transient) == ("database_unavailable", True)
    assert "previous data is kept" in error.message
    assert status_of(db, source_id) == ("failed", "database_unavailable")  # not 'processing'
    assert chunk_set(db, source_id) == before  # the old version, whole
    assert ingest_once(db, own, embedder, source_id) is None  # the retry
    after = chunk_set(db, source_id)
    assert one_version(after)
    assert all(c.startswith("Revision 2") for _, c, _ in after)
    assert status_of(db, source_id) == ("ready", None)


def test_the_api_answers_503_with_retry_after_while_no_database_connection_comes(
    own: Settings, server: OwnServer, db: ConnectionPool, embedder: Embedder
) -> None:
    """Every connection of a one-connection pool is taken (as a down or overloaded server
    leaves it): the API says 503 database_unavailable with Retry-After, not 500; once the
    connection is back, the same request succeeds."""
    small = ConnectionPool(
        server.url, min_size=1, max_size=1, timeout=0.5, configure=register_vector, open=True
    )
    try:
        with (
            tenants(db, "r4-api") as (shop,),
            serving(create_app(api_settings(own), pool=small)) as url,
        ):
            add_document(db, embedder, shop, "rentals.txt", ["Every rental includes a helmet."])
            request = {"url": f"{url}/v1/chatbots/{shop.id}/search", "json": {"query": "helmet"}}
            headers = {"X-API-Key": SERVICE_KEY}
            with small.connection():  # the only connection, held
                down = httpx.post(**request, headers=headers, timeout=30)
            up = httpx.post(**request, headers=headers, timeout=30)
    finally:
        small.close()

    assert down.status_code == 503
    assert down.json()["error"]["code"] == "database_unavailable"
    assert down.headers["retry-after"] == "1"
    assert up.status_code == 200
    assert [h["content"] for h in up.json()["hits"]] == ["Every rental includes a helmet."]
