"""Ingestion runs: one row per run, updated as the stages progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def start(
    conn: psycopg.Connection,
    *,
    chatbot_id: str,
    source_id: str | None,
    flow_run_id: str | None,
    worker: str | None = None,
) -> str:
    """A ``running`` run; ``worker``: the process running it (pipeline/run/worker.py)."""
    row = conn.execute(
        "INSERT INTO ingestion_runs (chatbot_id, source_id, flow_run_id, worker)"
        " VALUES (%s, %s, %s, %s) RETURNING id::text",
        (chatbot_id, source_id, flow_run_id, worker),
    ).fetchone()
    assert row is not None
    return str(row[0])


def record_skipped(
    conn: psycopg.Connection, *, chatbot_id: str, sources: Sequence[tuple[str, int]]
) -> None:
    """One finished ``skipped`` run per ``(source_id, chunks)``: sources whose bytes were
    already ingested, all their chunks reused. One statement for any number of sources."""
    if not sources:
        return
    conn.execute(
        "INSERT INTO ingestion_runs (chatbot_id, source_id, status, chunks, reused, finished_at)"
        " SELECT %s, s.id, 'skipped', s.n, s.n, now()"
        " FROM unnest(%s::uuid[], %s::int[]) AS s(id, n)",
        (chatbot_id, [i for i, _ in sources], [n for _, n in sources]),
    )


def progress(conn: psycopg.Connection, *, run_id: str, timings: dict[str, float]) -> None:
    conn.execute(
        "UPDATE ingestion_runs SET timings = timings || %s, heartbeat_at = now() WHERE id = %s",
        (Jsonb(timings), run_id),
    )


def finish(
    conn: psycopg.Connection,
    *,
    run_id: str,
    status: str,
    chunks: int = 0,
    embedded: int = 0,
    reused: int = 0,
    timings: dict[str, float] | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        "UPDATE ingestion_runs SET status = %s, chunks = %s, embedded = %s, reused = %s,"
        " timings = timings || %s, error = %s, finished_at = now(), heartbeat_at = now()"
        " WHERE id = %s",
        (status, chunks, embedded, reused, Jsonb(timings or {}), error, run_id),
    )


def latest(conn: psycopg.Connection, *, source_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id::text, status, chunks, embedded, reused, timings, error FROM ingestion_runs"
        " WHERE source_id = %s ORDER BY started_at DESC LIMIT 1",
        (source_id,),
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "status", "chunks", "embedded", "reused", "timings", "error")
    return dict(zip(keys, row, strict=True))


def latest_by_source(conn: psycopg.Connection, *, chatbot_id: str) -> dict[str, dict[str, Any]]:
    """The latest run of each of the chatbot's sources, by source id: what a progress view
    shows (``stage`` and ``heartbeat_at`` move while it runs)."""
    keys = ("status", "stage", "chunks", "embedded", "reused", "error", "started_at",
            "heartbeat_at", "finished_at")  # fmt: skip
    rows = conn.execute(
        "SELECT DISTINCT ON (source_id) source_id::text, status, stage, chunks, embedded,"
        " reused, error, started_at, heartbeat_at, finished_at FROM ingestion_runs"
        " WHERE chatbot_id = %s AND source_id IS NOT NULL"
        " ORDER BY source_id, started_at DESC, id",
        (chatbot_id,),
    ).fetchall()
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def heartbeat(conn: psycopg.Connection, *, run_id: str, stage: str | None = None) -> None:
    """Renew the run's lease (``heartbeat_at``), and record the stage it is in."""
    conn.execute(
        "UPDATE ingestion_runs SET heartbeat_at = now(), stage = coalesce(%s, stage)"
        " WHERE id = %s AND status = 'running'",
        (stage, run_id),
    )


def of_flow_run(conn: psycopg.Connection, *, flow_run_id: str) -> dict[str, dict[str, Any]]:
    """The runs of one flow run, by source id, with their source's path and error code: what a
    command that had a flow run elsewhere reports (flows/service.py)."""
    keys = ("status", "chunks", "embedded", "reused", "error", "path", "code")
    rows = conn.execute(
        "SELECT DISTINCT ON (r.source_id) r.source_id::text, r.status, r.chunks, r.embedded,"
        " r.reused, r.error, d.path, d.error_code FROM ingestion_runs r"
        " JOIN data_sources d ON d.id = r.source_id"
        " WHERE r.flow_run_id = %s ORDER BY r.source_id, r.started_at DESC, r.id",
        (flow_run_id,),
    ).fetchall()
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def ended_in_flow_run(conn: psycopg.Connection, *, flow_run_id: str) -> list[str]:
    """The sources whose run in the flow run has ended (a progress bar's count)."""
    rows = conn.execute(
        "SELECT source_id::text FROM ingestion_runs WHERE flow_run_id = %s"
        " AND status <> 'running' AND source_id IS NOT NULL",
        (flow_run_id,),
    ).fetchall()
    return [r[0] for r in rows]
