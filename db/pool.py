"""The connection pool, with one addition: a lost database is noticed once, not by every
borrower in turn.

A pool alone waits its full timeout for each connection while the server is down (the
background reconnects keep failing), and an ingestion borrows one per stage, heartbeat and
status write: a killed server turned a 12-source ``intaj ingest`` into six minutes of 30 s
waits. Here a borrower that gets no connection within a second probes the server with a
direct connection. While probes fail, the database is *down*; once it has been down for the
pool's timeout (``INTAJ_DB_TIMEOUT_SECONDS``) it is *lost*: every borrower then fails at once
with a ``PoolTimeout`` (an ``OperationalError``, so ``failures_as`` gives
``database_unavailable``) that says so, and a probe at most once per :data:`PROBE_EVERY`
seconds notices the server's return, after which the pool works as before (its ``check``
replaces the dead connections). A restart shorter than the timeout is ridden out: borrowers
wait for it, as they would with a plain pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

PROBE_EVERY = 1.0  # seconds between probes of a server that is down
FIRST_WAIT = 1.0  # seconds a borrower waits for a pooled connection before it probes


class GuardedPool(ConnectionPool):
    """A :class:`ConnectionPool` that fails fast once its database is lost (module doc).
    ``timeout``: a borrower's longest wait, the probe's connect timeout, and how long the
    server may be down before it counts as lost."""

    def __init__(self, conninfo: str, **kwargs: Any):
        super().__init__(conninfo, **kwargs)
        self._guard = threading.Lock()
        self._down_since: float | None = None
        self._down_reason = ""
        self._probed_at = 0.0

    @property
    def lost(self) -> bool:
        """Whether the database counts as lost: down for longer than the timeout."""
        down = self._down_since
        return down is not None and time.monotonic() - down >= self.timeout

    def getconn(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if self.lost and not self._probe_server(rate_limited=True):
                raise self._unreachable()
            left = deadline - time.monotonic()
            try:
                return super().getconn(timeout=max(0.01, min(left, FIRST_WAIT)))
            except PoolTimeout as e:  # busy, or down: a probe tells (one per second at most)
                self._probe_server(rate_limited=True)
                if time.monotonic() >= deadline or self.lost:
                    raise (self._unreachable() if self._down_since is not None else e) from e

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        try:
            with super().connection(timeout=timeout) as conn:
                yield conn
        except psycopg.OperationalError as e:
            if not isinstance(e, PoolTimeout):  # a connection broke in use: is it the server?
                self._probe_server(rate_limited=False)
            raise

    def _unreachable(self) -> PoolTimeout:
        down = time.monotonic() - (self._down_since or time.monotonic())
        return PoolTimeout(f"the database is unreachable: {self._down_reason} (for {down:.0f} s)")

    def _probe_server(self, *, rate_limited: bool) -> bool:
        """Probe the server (at most once per :data:`PROBE_EVERY` when ``rate_limited``) and
        record whether it is down. Returns whether it answered."""
        with self._guard:
            if rate_limited and time.monotonic() - self._probed_at < PROBE_EVERY:
                return False
            self._probed_at = time.monotonic()
        reason = self._probe()
        with self._guard:
            if reason is None:
                self._down_since = None
            elif self._down_since is None:
                self._down_since, self._down_reason = time.monotonic(), reason
        return reason is None

    def _probe(self) -> str | None:
        """None if a new connection to the server opens now, else why not (one line)."""
        conninfo = self.conninfo if isinstance(self.conninfo, str) else self.conninfo()
        try:
            with psycopg.connect(conninfo, connect_timeout=max(1, round(self.timeout))):
                return None
        except psycopg.Error as e:
            return (str(e).strip().splitlines() or [type(e).__name__])[0]
