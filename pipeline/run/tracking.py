"""Run tracking for the SaaS: while an ingestion runs, its ``ingestion_runs`` row carries the
stage it is in, the timings so far and a heartbeat (its lease). A background thread renews the
lease every ``heartbeat_seconds``, so a long stage (a big parse, a slow embedding API) keeps
its lease, and a killed process stops renewing it: the sweeper then fails the run
(``flows/sweep.py``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from psycopg_pool import ConnectionPool

from db import runs as runs_db
from pipeline.run.progress import Report

log = logging.getLogger(__name__)


class RunTracker:
    def __init__(
        self,
        pool: ConnectionPool,
        run_id: str,
        *,
        heartbeat_seconds: float,
        timings: dict[str, float] | None = None,
    ):
        self.pool = pool
        self.run_id = run_id
        self.timings: dict[str, float] = {} if timings is None else timings
        self._every = heartbeat_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="intaj-heartbeat", daemon=True)

    def __enter__(self) -> RunTracker:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the heartbeat (the run's lease lapses unless the run row is finished)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                with self.pool.connection() as conn:
                    runs_db.heartbeat(conn, run_id=self.run_id)
            except Exception as e:  # a missed beat is retried; the lease allows several
                log.warning("heartbeat of run %s failed: %s", self.run_id, e)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; record its start (stage + heartbeat) and, after it, the timings."""
        self._write(stage=name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - start, 4)
            self._write()

    def reporter(self, report: Report) -> Report:
        """``report``, plus a heartbeat with each embedding batch."""

        def both(stage: str, done: int, total: int) -> None:
            report(stage, done, total)
            if stage == "embed":
                self.batch(stage)

        return both

    def batch(self, stage: str) -> None:
        """A heartbeat from inside a stage (one embedding batch done)."""
        self._write(stage=stage, timings=False)

    def _write(self, *, stage: str | None = None, timings: bool = True) -> None:
        try:
            with self.pool.connection() as conn:
                if timings:
                    runs_db.progress(conn, run_id=self.run_id, timings=self.timings)
                runs_db.heartbeat(conn, run_id=self.run_id, stage=stage)
        except Exception as e:  # progress is a report; the heartbeat thread keeps the lease
            log.warning("progress of run %s not recorded: %s", self.run_id, e)
