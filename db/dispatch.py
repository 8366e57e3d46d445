"""Claims and leases for the upload trigger (``flows/trigger.py``) and the sweeper.

A *claim* moves a data source from ``pending`` (or ``failed``, for retries) to ``processing``
with one conditional UPDATE, so of several listeners racing for the same row exactly one
wins. Given the plans (``db/plans.py``), a claim takes only sources within their owner's plan;
:func:`refuse_over_plan` fails the others (``plan_limit``) before they are ever claimed.

A *lease* is an ingestion run's heartbeat: a run whose heartbeat is older than the lease
lost its worker (killed, machine gone), and the sweeper fails it and its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from db.plans import PLAN_LIMIT, PlanParams

CHANNEL = "intaj_data_source"
RUNS_CHANNEL = "intaj_flow_run"  # a flow run created for a claim: warm workers poll at once
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
NO_PLANS = {"plans": None, "local_email": None, "local_plan": None}


def within_plan(row: str) -> str:
    """SQL: ``AND`` the source ``row`` is within its owner's plan (or no plans are given)."""
    return (
        f" AND (%(plans)s::jsonb IS NULL OR intaj_over_plan({row}, %(plans)s::jsonb,"
        " %(local_email)s, %(local_plan)s) IS NULL)"
    )


_WITHIN = within_plan("data_sources")


def claim(
    conn: psycopg.Connection,
    *,
    source_id: str,
    from_status: tuple[str, ...] = ("pending",),
    plans: PlanParams | None = None,
) -> Claim | None:
    """Claim one source if it is still in ``from_status`` (and, given ``plans``, within its
    owner's plan: else failed by :func:`refuse_over_plan`); None when another process won or
    the plan refused it."""
    if plans is not None:
        refuse_over_plan(conn, plans=plans, source_ids=[source_id], from_status=from_status)
    row = conn.execute(
        _CLAIM + " WHERE id = %(id)s AND status = ANY(%(s)s)" + _WITHIN + _RETURNING,
        {"id": source_id, "s": list(from_status), **(plans.sql() if plans else NO_PLANS)},
    ).fetchone()
    return None if row is None else Claim(*row)


def refuse_over_plan(
    conn: psycopg.Connection,
    *,
    plans: PlanParams,
    source_ids: list[str] | None = None,
    from_status: tuple[str, ...] = ("pending",),
) -> list[tuple[str, dict[str, Any]]]:
    """Fail the sources in ``from_status`` (of ``source_ids``, or all) that are over their
    owner's plan, with ``plan_limit`` and the reason's message: never claimed, never stored.
    (source id, reason) of each; a reason has ``limit``, ``usage``, ``allowed``, ``plan``,
    ``message``."""
    rows = conn.execute(
        "UPDATE data_sources s SET status = 'failed', error_code = %(code)s,"
        " error = r.over ->> 'message', updated_at = now() FROM (SELECT d.id,"
        " intaj_over_plan(d, %(plans)s::jsonb, %(local_email)s, %(local_plan)s) AS over"
        " FROM data_sources d WHERE d.status = ANY(%(s)s)"
        " AND (%(ids)s::uuid[] IS NULL OR d.id = ANY(%(ids)s::uuid[])) FOR UPDATE SKIP LOCKED) r"
        " WHERE s.id = r.id AND r.over IS NOT NULL RETURNING s.id::text, r.over",
        {"code": PLAN_LIMIT, "s": list(from_status), "ids": source_ids, **plans.sql()},
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def claim_ids(
    conn: psycopg.Connection, *, ids: list[str], from_status: tuple[str, ...]
) -> list[Claim]:
    """Claim those of ``ids`` still in ``from_status``, skipping rows another process is
    claiming (``db/fair_claims.py`` chooses them)."""
    rows = conn.execute(
        _CLAIM + " WHERE id IN (SELECT id FROM data_sources WHERE id = ANY(%(ids)s::uuid[])"
        " AND status = ANY(%(s)s) FOR UPDATE SKIP LOCKED)" + _RETURNING,
        {"ids": ids, "s": list(from_status)},
    ).fetchall()
    return [Claim(*r) for r in rows]


def claim_next(
    conn: psycopg.Connection,
    *,
    from_status: tuple[str, ...] = ("pending",),
    chatbot_id: str | None = None,
    limit: int = 1,
    plans: PlanParams | None = None,
) -> list[Claim]:
    """Claim up to ``limit`` sources, oldest first, skipping rows another process is claiming
    (and, given ``plans``, failing those over their owner's plan: :func:`refuse_over_plan`)."""
    if plans is not None:
        refuse_over_plan(conn, plans=plans, from_status=from_status)
    rows = conn.execute(
        _CLAIM + " WHERE id IN (SELECT id FROM data_sources WHERE status = ANY(%(s)s)"
        " AND (%(c)s::uuid IS NULL OR chatbot_id = %(c)s::uuid)"
        + _WITHIN
        + " ORDER BY created_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED)"
        + _RETURNING,
        {
            "s": list(from_status),
            "c": chatbot_id,
            "n": limit,
            **(plans.sql() if plans else NO_PLANS),
        },
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
    """Record the flow run dispatched for a claimed source, and announce it on RUNS_CHANNEL
    (delivered when the caller commits)."""
    conn.execute("UPDATE data_sources SET flow_run_id = %s WHERE id = %s", (flow_run_id, source_id))
    conn.execute("SELECT pg_notify(%s, %s)", (RUNS_CHANNEL, flow_run_id))


def listen(conn: psycopg.Connection, channel: str) -> None:
    """LISTEN on ``channel`` (one of this module's channels), on an autocommit connection."""
    conn.execute(f"LISTEN {channel}")


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


def queue_depth(conn: psycopg.Connection) -> dict[str, int]:
    """How many data sources are in each status (the ingestion queue; core/metrics.py)."""
    rows = conn.execute("SELECT status, count(*) FROM data_sources GROUP BY status").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}
