"""An ingest's flow run in the home's flow service (flows/service.py): created over Prefect's API,
waited for, and its sources' results read from their ingestion runs, as ``intaj ingest``
reports them when the flow runs in its own process (``intaj/services.py``)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from psycopg_pool import ConnectionPool

from core.errors import DatabaseError
from db import runs as runs_db
from db.chatbots import Chatbot
from db.connection import failures_as
from flows.service_runs import Service
from pipeline.run import progress
from pipeline.run.orphans import close_orphans
from pipeline.run.result import SourceResult

log = logging.getLogger(__name__)


def run_in_service(
    pool: ConnectionPool, found: Service, bot: Chatbot, source_ids: list[str]
) -> dict[str, SourceResult] | None:
    """A run of the service's ``ingest-chatbot`` deployment; each source's result is read from
    its ingestion run. Progress: each source that ends is reported as the flow would here.
    None when the service could not take the run or ended before it began (it was stopping):
    the caller runs the flow itself. A database lost meanwhile fails every source with its
    error, as a flow run here would."""
    try:
        run_id = found.create_run(
            "ingest-chatbot", {"chatbot_id": bot.id, "source_ids": source_ids}, ["trigger:cli"]
        )
    except httpx.HTTPError as e:
        log.info("the flow service did not take the run (running it here): %s", e)
        return None
    state = found.wait(run_id, every=_progress(pool, run_id))
    try:
        if state.get("type") == "CRASHED":
            close_orphans(pool)  # the service's runs in flight: failed, worker_lost
        with failures_as(DatabaseError, "reading the ingestion's results"), pool.connection() as c:
            rows = runs_db.of_flow_run(c, flow_run_id=run_id)
    except DatabaseError as e:
        if e.code != "database_unavailable":
            raise
        return {i: SourceResult.never_ran(i, e) for i in source_ids}
    if not rows and state.get("type") == "CRASHED":
        return None
    return {i: _result(i, rows.get(i), state) for i in source_ids}


def _progress(pool: ConnectionPool, run_id: str) -> Callable[[], bool]:
    """Reports each source of the run that has ended (looked up at most every 0.25 s);
    returns whether one just did."""
    reported: set[str] = set()
    next_look = [0.0]

    def look() -> bool:
        if time.monotonic() < next_look[0]:
            return False
        next_look[0] = time.monotonic() + 0.25
        ended = set()
        with contextlib.suppress(DatabaseError), pool.connection() as conn:
            ended = set(runs_db.ended_in_flow_run(conn, flow_run_id=run_id)) - reported
        for i in ended:
            reported.add(i)
            progress.reporter(i)("done", 1, 1)
        return bool(ended)

    return look


def _result(source_id: str, row: dict[str, Any] | None, state: dict[str, Any]) -> SourceResult:
    if row is None or row["status"] == "running":
        ended = f"the flow run ended {str(state.get('type')).lower()}: {state.get('message') or ''}"
        return SourceResult(source_id, source_id, "failed", error=ended.strip(), code="flow_failed")
    ok = row["status"] == "completed"
    return SourceResult(
        source_id, row["path"], "ready" if ok else "failed", chunks=row["chunks"],
        embedded=row["embedded"], reused=row["reused"], error=row["error"],
        code=None if ok else row["code"],
    )  # fmt: skip
