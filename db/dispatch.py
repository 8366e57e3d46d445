"""Claims and leases for the upload trigger (``flows/trigger.py``) and the sweeper.

A *claim* moves a data source from ``pending`` (or ``failed``, for retries) to ``processing``
with one conditional UPDATE, so of several listeners racing for the same row exactly one
wins. A *lease* is an ingestion run's heartbeat: a run whose heartbeat is older than the lease
lost its worker (killed, machine gone), and the sweeper fails it and its source.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

CHANNEL = "intaj_data_source"
WORKER_LOST = "worker_lost"


@dataclass(frozen=True, slots=True)
class Claim:
    """A source this process now owns; ``attempt`` numbers its dispatches."""

    source_id: str
    chatbot_id: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        return f"ingest:{self.source_id}:{self.attempt}"


_CLAIM = (
    "UPDATE data_sources SET status = 'processing', error = NULL, error_code = NULL,"
    " ingest_attempts = ingest_attempts + 1, claimed_at = now(), flow_run_id = NULL,"
    " updated_at = now()"
)
_RETURNING = " RETURNING id::text, chatbot_id::text, ingest_attempts"


def claim(
    conn: psycopg.Connection, *, source_id: str, from_status: tuple[str, ...] = ("pending",)
) -> Claim | None:
    """Claim one source if it is still in ``from_status``; None when another process won."""
    row = conn.execute(
        _CLAIM + " WHERE id = %s AND status = ANY(%s)" + _RETURNING,
        (source_id, list(from_status)),
    ).fetchone()
    return None if row is None else Claim(*row)


def claim_next(
    conn: psycopg.Connection,
    *,
    from_status: tuple[str, ...] = ("pending",),
    chatbot_id: str | None = None,
    limit: int = 1,
) -> list[Claim]:
    """Claim up to ``limit`` sources, oldest first, skipping rows another process is claiming."""
    rows = conn.execute(
        _CLAIM + " WHERE id IN (SELECT id FROM data_sources WHERE status = ANY(%(s)s)"
        " AND (%(c)s::uuid IS NULL OR chatbot_id = %(c)s::uuid)"
        " ORDER BY created_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED)" + _RETURNING,
        {"s": list(from_status), "c": chatbot_id, "n": limit},
    ).fetchall()
    return [Claim(*r) for r in rows]


def release(conn: psycopg.Connection, *, source_id: str) -> None:
    """Give a claim back (the dispatch failed before any run started)."""
    conn.execute(
        "UPDATE data_sources SET status = 'pending', claimed_at = NULL, updated_at = now()"
        " WHERE id = %s AND status = 'processing'",
        (source_id,),
    )


def set_flow_run(conn: psycopg.Connection, *, source_id: str, flow_run_id: str) -> None:
    conn.execute("UPDATE data_sources SET flow_run_id = %s WHERE id = %s", (flow_run_id, source_id))


def pending_ids(conn: psycopg.Connection, *, limit: int = 1000) -> list[str]:
    rows = conn.execute(
        "SELECT id::text FROM data_sources WHERE status = 'pending'"
        " ORDER BY created_at, id LIMIT %s",
        (limit,),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True, slots=True)
class LostRun:
    run_id: str
    source_id: str | None
    flow_run_id: str | None


def fail_lost_runs(conn: psycopg.Connection, *, lease_seconds: float) -> list[LostRun]:
    """Fail runs whose heartbeat is older than the lease, and their sources (status 'failed',
    error_code 'worker_lost', so ``retry-failed`` picks them up). Sources keep their chunks."""
    message = (
        f"the ingestion worker stopped sending heartbeats for over {lease_seconds:g} s"
        " (killed or lost); the previous chunks are kept: retry with `retry-failed`"
    )
    return _fail_runs(
        conn, "heartbeat_at < now() - make_interval(secs => %s)", lease_seconds, message
    )


def running_workers(conn: psycopg.Connection) -> list[str]:
    """The processes named by ``running`` runs (``ingestion_runs.worker``)."""
    rows = conn.execute(
        "SELECT DISTINCT worker FROM ingestion_runs WHERE status = 'running' AND worker IS NOT NULL"
    ).fetchall()
    return [r[0] for r in rows]


def fail_runs_of(conn: psycopg.Connection, *, workers: list[str]) -> list[LostRun]:
    """Fail the running runs of ``workers`` (processes known to be gone), and their sources,
    as :func:`fail_lost_runs` does."""
    message = (
        "the ingestion process ended before the source was done (killed, or its database went"
        " away); the previous chunks are kept: ingest again or run `retry-failed`"
    )
    return _fail_runs(conn, "worker = ANY(%s)", workers, message)


def _fail_runs(
    conn: psycopg.Connection, condition: str, value: object, message: str
) -> list[LostRun]:
    with conn.transaction():
        rows = conn.execute(
            "UPDATE ingestion_runs SET status = 'failed', error = %s, finished_at = now()"
            f" WHERE status = 'running' AND {condition}"
            " RETURNING id::text, source_id::text, flow_run_id::text",
            (message, value),
        ).fetchall()
        lost = [LostRun(*r) for r in rows]
        sources = [r.source_id for r in lost if r.source_id]
        # A source whose newer run is still alive is left alone.
        conn.execute(
            "UPDATE data_sources s SET status = 'failed', error_code = %s, error = %s,"
            " updated_at = now() WHERE s.id = ANY(%s::uuid[]) AND s.status = 'processing'"
            " AND NOT EXISTS (SELECT 1 FROM ingestion_runs r WHERE r.source_id = s.id"
            " AND r.status = 'running')",
            (WORKER_LOST, message, sources),
        )
    return lost


def fail_stale_claims(conn: psycopg.Connection, *, lease_seconds: float) -> list[str]:
    """Fail sources claimed longer than the lease ago whose run never started (the dispatcher
    or the worker died between the claim and the flow's first heartbeat)."""
    rows = conn.execute(
        "UPDATE data_sources s SET status = 'failed', error_code = %s,"
        " error = 'the ingestion run never started (dispatcher or worker lost); retry it',"
        " updated_at = now()"
        " WHERE s.status = 'processing' AND s.claimed_at < now() - make_interval(secs => %s)"
        " AND NOT EXISTS (SELECT 1 FROM ingestion_runs r WHERE r.source_id = s.id"
        " AND r.started_at >= s.claimed_at)"
        " RETURNING s.id::text",
        (WORKER_LOST, lease_seconds),
    ).fetchall()
    return [r[0] for r in rows]


def find_by_path(conn: psycopg.Connection, *, path: str) -> tuple[str, str] | None:
    """(source id, status) of the source stored at ``path`` (webhooks: a re-upload)."""
    row = conn.execute(
        "SELECT id::text, status FROM data_sources WHERE path = %s ORDER BY created_at LIMIT 1",
        (path,),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def switch_model(conn: psycopg.Connection, *, chatbot_id: str, model: str) -> None:
    """The re-embed switch: the chatbot searches ``model`` from this UPDATE on; its ready
    sources record the model their chunks now have."""
    conn.execute("UPDATE chatbots SET embedding_model = %s WHERE id = %s", (model, chatbot_id))
    conn.execute(
        "UPDATE data_sources s SET embedding_model = %(m)s, chunk_count = (SELECT count(*)"
        " FROM chunks c WHERE c.source_id = s.id AND c.embedding_model = %(m)s)"
        " WHERE s.chatbot_id = %(c)s AND s.status = 'ready'",
        {"m": model, "c": chatbot_id},
    )


def drop_model_chunks(conn: psycopg.Connection, *, chatbot_id: str, model: str) -> int:
    cur = conn.execute(
        "DELETE FROM chunks WHERE chatbot_id = %s AND embedding_model = %s", (chatbot_id, model)
    )
    return cur.rowcount


def failed_ids(
    conn: psycopg.Connection,
    *,
    chatbot_id: str | None = None,
    error_codes: list[str] | None = None,
    limit: int = 100,
) -> list[str]:
    rows = conn.execute(
        "SELECT id::text FROM data_sources WHERE status = 'failed'"
        " AND (%(c)s::uuid IS NULL OR chatbot_id = %(c)s::uuid)"
        " AND (%(e)s::text[] IS NULL OR error_code = ANY(%(e)s::text[]))"
        " ORDER BY updated_at, id LIMIT %(n)s",
        {"c": chatbot_id, "e": error_codes, "n": limit},
    ).fetchall()
    return [r[0] for r in rows]
