"""Runs whose process is gone, closed by the next command that starts on the same host.

A killed ``intaj ingest`` (SIGKILL, a crash, its database killed under it) leaves its runs
``running`` and their sources ``processing``. Their lease would end that after
``INTAJ_RUN_LEASE_SECONDS`` at the sweeper's next pass; but a run row names its process
(``pipeline/run/worker.py``), so any command of this host can see at once that the process is
gone and fail the runs and their sources (``worker_lost``: retryable, previous chunks kept).
Every CLI command does this when it opens the database (``intaj.services.context``).
"""

from __future__ import annotations

import logging

from psycopg_pool import ConnectionPool

from db import dispatch as dispatch_db
from db.dispatch import LostRun
from pipeline.run import worker

log = logging.getLogger(__name__)


def close_orphans(pool: ConnectionPool) -> list[LostRun]:
    """Fail the running runs of this host's processes that have ended. Returns them."""
    with pool.connection() as conn:
        gone = [w for w in dispatch_db.running_workers(conn) if worker.is_gone(w)]
        if not gone:
            return []
        closed = dispatch_db.fail_runs_of(conn, workers=gone)
    if closed:
        log.warning("closed %d runs of ingestion processes that ended unfinished", len(closed))
    return closed
