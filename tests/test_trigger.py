"""The upload trigger without a Prefect server: NOTIFY on insert and re-upload, claims that
only one listener wins, the listener's catch-up and reconnection, the sweeper, and the
webhooks. Dispatch is recorded by a fake of the deployment call (Prefect itself is exercised in
test_orchestration.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from core.settings import Settings
from db import dispatch as dispatch_db
from db import runs as runs_db
from db import sources as sources_db
from db.connection import connect, database_url
from db.dispatch import Claim
from flows.sweep import sweep
from flows.trigger import Dispatcher, Listener
from intaj import services
from intaj.http import webhooks
from tests.fix_orchestration import upload, wait_for

TEXT = b"Northwind Bikes rents tandem bicycles on weekends.\n"


class RecordingDispatcher(Dispatcher):
    """Records each dispatch instead of calling the Prefect API."""

    def _run_deployment(self, claimed: Claim) -> None:
        pass


@pytest.fixture
def bot(make_chatbot: Any) -> Any:
    return make_chatbot()


def notifications(conn: psycopg.Connection) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=0.5)]


def test_insert_and_reupload_notify_once_each(
    pool: ConnectionPool, settings: Settings, bot: Any
) -> None:
    with connect(database_url(settings), autocommit=True) as listener:
        listener.execute(f"LISTEN {dispatch_db.CHANNEL}")
        source_id = upload(pool, settings, bot.id, "a.txt", TEXT)
        assert notifications(listener) == [source_id]
        with pool.connection() as conn:
            sources_db.mark_ready(
                conn, source_id=source_id, content_hash="h", size_bytes=1, chunk_count=1, model="m"
            )
        assert notifications(listener) == []  # ready is not work
        with pool.connection() as conn:
            sources_db.mark_pending(conn, source_id=source_id)  # a re-upload
        assert notifications(listener) == [source_id]


def test_concurrent_claims_have_one_winner(
    pool: ConnectionPool, settings: Settings, bot: Any
) -> None:
    ids = [upload(pool, settings, bot.id, f"{i}.txt", TEXT) for i in range(6)]
    won: list[Claim] = []
    lock = threading.Lock()

    def claimer() -> None:
        for source_id in [*ids, *reversed(ids)]:
            with pool.connection() as conn:
                c = dispatch_db.claim(conn, source_id=source_id)
            if c is not None:
                with lock:
                    won.append(c)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c.source_id for c in won) == sorted(ids)
    assert {c.idempotency_key for c in won} == {f"ingest:{i}:1" for i in ids}


@pytest.fixture
def listening(pool: ConnectionPool, settings: Settings) -> Iterator[tuple[Listener, Dispatcher]]:
    fast = settings.model_copy(update={"listen_sweep_seconds": 0.5})
    dispatcher = RecordingDispatcher(pool, fast, "deployment")
    listener = Listener(fast, dispatcher, announce=lambda m: None, max_backoff=0.5)
    yield listener, dispatcher
    listener.stop.set()


def run_in_thread(listener: Listener) -> threading.Thread:
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    return thread


def test_listener_catches_up_then_follows_notifications(
    pool: ConnectionPool, settings: Settings, bot: Any, listening: tuple[Listener, Dispatcher]
) -> None:
    listener, dispatcher = listening
    before = upload(pool, settings, bot.id, "before.txt", TEXT)  # inserted while it was down
    thread = run_in_thread(listener)
    wait_for(lambda: before in {c.source_id for c in dispatcher.dispatched}, timeout=10)
    after = upload(pool, settings, bot.id, "after.txt", TEXT)
    wait_for(lambda: after in {c.source_id for c in dispatcher.dispatched}, timeout=10)
    listener.stop.set()
    thread.join(10)
    assert not thread.is_alive()
    mine = [c.source_id for c in dispatcher.dispatched if c.chatbot_id == bot.id]
    assert sorted(mine) == sorted([before, after])
    assert status_and_attempts(pool, before) == ("processing", 1)


def status_and_attempts(pool: ConnectionPool, source_id: str) -> tuple[str, int]:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT status, ingest_attempts FROM data_sources WHERE id = %s", (source_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_listener_reconnects_after_its_connection_is_killed(
    pool: ConnectionPool, settings: Settings, bot: Any, listening: tuple[Listener, Dispatcher]
) -> None:
    listener, dispatcher = listening
    thread = run_in_thread(listener)
    first = upload(pool, settings, bot.id, "first.txt", TEXT)
    wait_for(lambda: first in {c.source_id for c in dispatcher.dispatched}, timeout=10)
    with pool.connection() as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN intaj_data_source%%'"
        ).fetchall()
    assert killed
    second = upload(pool, settings, bot.id, "second.txt", TEXT)
    wait_for(lambda: second in {c.source_id for c in dispatcher.dispatched}, timeout=15)
    listener.stop.set()
    thread.join(10)


def test_sweeper_fails_runs_that_lost_their_heartbeat(
    pool: ConnectionPool, settings: Settings, bot: Any
) -> None:
    alive, lost = (upload(pool, settings, bot.id, f"{n}.txt", TEXT) for n in ("alive", "lost"))
    with pool.connection() as conn:
        for source_id in (alive, lost):
            assert dispatch_db.claim(conn, source_id=source_id) is not None
        runs = {
            s: runs_db.start(conn, chatbot_id=bot.id, source_id=s, flow_run_id=None)
            for s in (alive, lost)
        }
        conn.execute(
            "UPDATE ingestion_runs SET heartbeat_at = now() - interval '10 minutes' WHERE id = %s",
            (runs[lost],),
        )
    swept = sweep(pool, settings, lease_seconds=60)
    assert runs[lost] in swept.lost_runs and runs[alive] not in swept.lost_runs
    assert lost in swept.failed_sources
    with pool.connection() as conn:
        got = {s: sources_db.get(conn, source_id=s) for s in (alive, lost)}
        assert runs_db.latest(conn, source_id=lost)["status"] == "failed"  # type: ignore[index]
    assert got[lost].status == "failed" and got[lost].error_code == "worker_lost"  # type: ignore[union-attr]
    assert got[alive].status == "processing"  # type: ignore[union-attr]


def test_sweeper_fails_claims_whose_run_never_started(
    pool: ConnectionPool, settings: Settings, bot: Any
) -> None:
    source_id = upload(pool, settings, bot.id, "orphan.txt", TEXT)
    with pool.connection() as conn:
        assert dispatch_db.claim(conn, source_id=source_id) is not None
        conn.execute(
            "UPDATE data_sources SET claimed_at = now() - interval '1 hour' WHERE id = %s",
            (source_id,),
        )
    assert source_id in sweep(pool, settings, claim_lease_seconds=60).stale_claims
    with pool.connection() as conn:
        assert dispatch_db.claim(conn, source_id=source_id, from_status=("failed",))


# --- webhooks ---------------------------------------------------------------------------------

SECRET = "s3cret-for-tests"


@pytest.fixture
def client(pool: ConnectionPool, settings: Settings) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(webhooks.router)
    configured = settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    app.dependency_overrides[webhooks.context_dependency] = lambda: services.Context(
        configured, pool
    )
    with TestClient(app) as c:
        yield c


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Intaj-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def test_webhooks_refuse_requests_without_the_secret(client: TestClient) -> None:
    body = json.dumps({"type": "INSERT", "table": "data_sources", "record": {}}).encode()
    assert client.post("/v1/webhooks/database", content=body).status_code == 401
    bad = {"Authorization": "Bearer wrong"}
    assert client.post("/v1/webhooks/database", content=body, headers=bad).status_code == 401
    forged = signed(body + b" ")
    assert client.post("/v1/webhooks/database", content=body, headers=forged).status_code == 401


def test_database_webhook_accepts_an_insert_and_a_reupload(
    client: TestClient, pool: ConnectionPool, settings: Settings, bot: Any
) -> None:
    source_id = upload(pool, settings, bot.id, "hooked.txt", TEXT)
    event = {"type": "INSERT", "table": "data_sources", "schema": "public",
             "record": {"id": source_id, "path": "x"}, "old_record": None}  # fmt: skip
    reply = client.post(
        "/v1/webhooks/database", json=event, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert reply.status_code == 202
    assert reply.json()["pending"] == [source_id]
    with pool.connection() as conn:
        sources_db.mark_ready(
            conn, source_id=source_id, content_hash="h", size_bytes=1, chunk_count=1, model="m"
        )
    update = {**event, "type": "UPDATE", "record": {"id": source_id, "path": "new"},
              "old_record": {"id": source_id, "path": "old"}}  # fmt: skip
    body = json.dumps(update).encode()
    reply = client.post("/v1/webhooks/database", content=body, headers=signed(body))
    assert reply.json()["pending"] == [source_id]
    with pool.connection() as conn:
        assert sources_db.get(conn, source_id=source_id).status == "pending"  # type: ignore[union-attr]


def test_storage_webhook_creates_a_source_for_a_new_object(
    client: TestClient, pool: ConnectionPool, bot: Any
) -> None:
    name = f"{bot.id}/{uuid.uuid4()}/price-list.pdf"
    event = {"type": "INSERT", "table": "objects", "schema": "storage",
             "record": {"bucket_id": "uploads", "name": name}}  # fmt: skip
    body = json.dumps(event).encode()
    reply = client.post("/v1/webhooks/storage", content=body, headers=signed(body))
    assert reply.status_code == 202, reply.text
    (source_id,) = reply.json()["pending"]
    with pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    assert source is not None
    assert (source.path, source.type, source.status) == (
        f"supabase://uploads/{name}",
        "pdf",
        "pending",
    )
    again = client.post("/v1/webhooks/storage", content=body, headers=signed(body))
    assert again.json()["pending"] == [source_id]  # a re-upload: the same source
    stranger = {"bucket": "uploads", "name": f"{uuid.uuid4()}/x/y.pdf"}
    body = json.dumps(stranger).encode()
    assert client.post("/v1/webhooks/storage", content=body, headers=signed(body)).json()["ignored"]


def test_claims_are_released_when_dispatch_fails(
    pool: ConnectionPool, settings: Settings, bot: Any
) -> None:
    class Broken(Dispatcher):
        def _run_deployment(self, claimed: Claim) -> None:
            raise RuntimeError("Prefect API down")

    source_id = upload(pool, settings, bot.id, "later.txt", TEXT)
    with pytest.raises(RuntimeError):
        Broken(pool, settings, "deployment").trigger(source_id)
    assert status_and_attempts(pool, source_id)[0] == "pending"
