"""The upload trigger: ``data_sources`` is the queue, NOTIFY the wake-up, Prefect runs the work.

A listener LISTENs on ``intaj_data_source`` over a direct connection (never a transaction
pooler: no LISTEN there). For each notification, on start and then every
``listen_sweep_seconds`` (catch-up on anything missed while it was down), it *claims* pending
sources with a conditional UPDATE (pending -> processing), so two listeners never start the
same one, owner by owner in turn while run slots are free (``INTAJ_INGEST_FAIR``,
``db/fair_claims.py``: one owner's backlog does not hold the others'), and dispatches each:

- ``deployment`` mode (PREFECT_API_URL set): a flow run of the ``ingest-data-source``
  deployment (one Prefect client for the listener's life) with the idempotency key
  ``ingest:{id}:{attempt}``; a worker runs it;
- ``in-process`` mode (no Prefect server): the listener runs the flow itself, ``listen_runs``
  sources at a time (1 by default), each in a thread, claiming only while it has a free slot
  (so several listeners share the work); a run that ends claims the next.

The flow accepts a source already claimed (it sets 'processing' itself too). The listener also
runs the sweeper (``flows/sweep.py``), reconnects with backoff after database restarts, and
stops between dispatches when ``stop`` is set (SIGINT/SIGTERM in ``intaj listen``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg_pool import ConnectionPool

from core.errors import DatabaseError
from core.settings import Settings
from db import dispatch as dispatch_db
from db.connection import connect, database_url
from db.dispatch import Claim
from db.fair_claims import Fairness, claim_next_fair
from flows.reconnecting import keep_listening
from flows.sweep import prefect_api_url, sweep
from flows.webhook_events import Accepted as Accepted  # the webhooks' work, re-exported
from flows.webhook_events import accept_database_event as accept_database_event
from flows.webhook_events import accept_storage_event as accept_storage_event
from flows.webhook_events import kick as kick
from pipeline import plans

log = logging.getLogger(__name__)

Mode = Literal["auto", "deployment", "in-process"]
SWEEP_BATCH = 50


def resolve_mode(mode: Mode) -> Literal["deployment", "in-process"]:
    if mode != "auto":
        return mode
    return "deployment" if prefect_api_url() else "in-process"


@dataclass
class Dispatcher:
    """Turns claims into runs: a deployment run on the Prefect server, or the flow in-process.

    In-process, up to ``listen_runs`` flow runs go at once (1 by default), each in a thread
    of its own; a run that ends claims the next source itself (:meth:`drain`), so a freed
    slot is filled at once, in fair order when fair."""

    pool: ConnectionPool
    settings: Settings
    mode: Literal["deployment", "in-process"]
    # In-process: the Prefect server is a temporary one that ends with this process, so its
    # flow runs send no heartbeat (flows/startup.py, ``flow_settings``).
    temporary_server: bool = False
    dispatched: list[Claim] = field(default_factory=list)
    _prefect: Any = None
    _deployment_id: Any = None
    _busy: int = 0  # in-process: slots reserved or running
    _slots: threading.Lock = field(default_factory=threading.Lock)
    _runs: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event | None = None

    def trigger(self, note: str, stop: threading.Event | None = None) -> Claim | None:
        """A notification: a source made pending (its id) or one that finished (``done:<id>``).
        Fair (INTAJ_INGEST_FAIR) or in-process, either wakes :meth:`drain`, which claims (in
        fair order, or oldest first) while slots are free: the claim of ``note``'s source if
        it got one. Otherwise a pending one is claimed (within its plan) and dispatched at
        once; None if someone else has it."""
        if self.settings.ingest_fair or self.mode == "in-process":
            first = len(self.dispatched)
            self.drain(stop)
            return next((c for c in self.dispatched[first:] if c.source_id == note), None)
        if note.startswith("done:"):
            return None
        with self.pool.connection() as conn:
            claimed = dispatch_db.claim(conn, source_id=note, plans=plans.params(self.settings))
        if claimed is not None:
            self.dispatch(claimed)
        return claimed

    def drain(self, stop: threading.Event | None = None) -> int:
        """Claim and dispatch every pending source it may (catch-up): all of them, oldest first,
        or, fair, in fair order while slots are free (db/fair_claims.py); in-process, only as
        many as its free run slots. Returns how many."""
        if stop is not None:
            self._stop = stop
        count = 0
        while stop is None or not stop.is_set():
            batch = self._reserve()
            if batch == 0:
                break
            claims: list[Claim] = []
            try:
                with self.pool.connection() as conn:
                    claims = self._claim_next(conn, batch)
            finally:
                self._free(batch - len(claims))
            if not claims:
                break
            for c in claims:
                self.dispatch(c)
            count += len(claims)
        return count

    def _reserve(self) -> int:
        """How many sources to claim now: in-process, the free run slots (reserved here)."""
        if self.mode != "in-process":
            return SWEEP_BATCH
        with self._slots:
            free = max(0, self.settings.listen_runs - self._busy)
            self._busy += free
            return free

    def _free(self, slots: int) -> None:
        if self.mode == "in-process" and slots:
            with self._slots:
                self._busy -= slots

    def _claim_next(self, conn: Any, batch: int) -> list[Claim]:
        limits, settings = plans.params(self.settings), self.settings
        if not settings.ingest_fair:
            return dispatch_db.claim_next(conn, limit=batch, plans=limits)
        fair = Fairness(settings.ingest_max_in_flight, settings.ingest_owner_max_in_flight)
        return claim_next_fair(conn, fairness=fair, limit=batch, plans=limits)

    def dispatch(self, claimed: Claim) -> None:
        try:
            if self.mode == "deployment":
                self._run_deployment(claimed)
            else:
                self._run_here(claimed)
        except Exception:
            if self.mode == "deployment":  # no run exists: give the claim back
                with self.pool.connection() as conn:
                    dispatch_db.release(conn, source_id=claimed.source_id)
            raise
        self.dispatched.append(claimed)

    def _run_deployment(self, claimed: Claim) -> None:
        from prefect.exceptions import ObjectNotFound

        client = self._client()
        try:
            run = self._create_run(client, claimed)
        except ObjectNotFound:  # the deployment was re-created under a new id: look it up again
            self._deployment_id = None
            run = self._create_run(client, claimed)
        with self.pool.connection() as conn:
            dispatch_db.set_flow_run(conn, source_id=claimed.source_id, flow_run_id=str(run.id))
        log.info("source %s -> flow run %s", claimed.source_id, run.id)

    def _create_run(self, client: Any, claimed: Claim) -> Any:
        if self._deployment_id is None:
            self._deployment_id = client.read_deployment_by_name(self.settings.ingest_deployment).id
        return client.create_flow_run_from_deployment(
            self._deployment_id,
            parameters={"source_id": claimed.source_id},
            idempotency_key=claimed.idempotency_key,
            tags=["trigger:upload", f"chatbot:{claimed.chatbot_id}"],
        )

    def _client(self) -> Any:
        """One Prefect client for the dispatcher's life: ``run_deployment`` opened a client
        and read the deployment on every call, which cost 2-3 s per upload next to a busy
        worker (measured by bench/trigger_latency.py)."""
        if self._prefect is None:
            from prefect.client.orchestration import get_client

            client = get_client(sync_client=True)
            self._prefect = client.__enter__()
        return self._prefect

    def close(self) -> None:
        """Wait for the in-process runs in flight; close the Prefect client, if one was opened."""
        for run in list(self._runs):
            run.join()
        if self._prefect is not None:
            client, self._prefect = self._prefect, None
            client.__exit__(None, None, None)

    def _run_here(self, claimed: Claim) -> None:
        """The flow run of ``claimed`` in a thread of its own, in the slot :meth:`drain`
        reserved (the main thread keeps our signal handlers: Prefect installs its SIGTERM
        bridge around a flow run in the main thread, which would crash the run on the first
        SIGTERM instead of letting it finish)."""
        worker = threading.Thread(
            target=self._run_then_next, args=(claimed,), name=f"ingest-{claimed.source_id}"
        )
        self._runs.append(worker)
        worker.start()

    def _run_then_next(self, claimed: Claim) -> None:
        try:
            self._run_flow(claimed)
        except Exception as e:  # the source stays processing; the sweeper retries it
            log.warning("in-process run of source %s failed: %s", claimed.source_id, e)
        finally:
            self._free(1)
            self._runs.remove(threading.current_thread())
        try:
            self.drain(self._stop)  # the freed slot: the next source, at once
        except Exception as e:
            log.warning("claiming the next source failed (the next sweep will): %s", e)

    def _run_flow(self, claimed: Claim) -> None:
        from prefect import tags

        from flows.ingest import ingest_data_source
        from flows.startup import flow_settings

        with (
            flow_settings(self.temporary_server),
            tags("trigger:upload", f"chatbot:{claimed.chatbot_id}"),
        ):
            state = ingest_data_source(claimed.source_id, return_state=True)
        if state.state_details.flow_run_id is not None:
            with self.pool.connection() as conn:
                dispatch_db.set_flow_run(
                    conn,
                    source_id=claimed.source_id,
                    flow_run_id=str(state.state_details.flow_run_id),
                )
        log.info("source %s ingested in-process: %s", claimed.source_id, state.type.value)


@dataclass
class Listener:
    settings: Settings
    dispatcher: Dispatcher
    stop: threading.Event = field(default_factory=threading.Event)
    announce: Callable[[str], None] = log.info
    max_backoff: float = 30.0
    _next_sweep: float = 0.0

    def run(self) -> None:
        def lost(error: Exception, delay: float) -> None:
            self.announce(f"database connection lost ({error}); reconnecting in {delay:.1f} s")

        keep_listening(
            self._session,
            stop=self.stop,
            lost=lost,
            errors=(psycopg.OperationalError, DatabaseError),
            max_backoff=self.max_backoff,
        )

    def _session(self, listening: Callable[[], None]) -> None:
        with connect(database_url(self.settings), autocommit=True) as conn:
            dispatch_db.listen(conn, dispatch_db.CHANNEL)
            listening()
            self.announce(
                f"listening on {dispatch_db.CHANNEL} (mode: {self.dispatcher.mode});"
                f" catch-up every {self.settings.listen_sweep_seconds:g} s"
            )
            self._catch_up()
            while not self.stop.is_set():
                wait = max(0.05, min(1.0, self._next_sweep - time.monotonic()))
                for note in conn.notifies(timeout=wait, stop_after=1):
                    self._guarded(self.dispatcher.trigger, note.payload, self.stop)
                if time.monotonic() >= self._next_sweep:
                    self._catch_up()

    def _catch_up(self) -> None:
        self._guarded(lambda: sweep(self.dispatcher.pool, self.settings))
        n = self._guarded(lambda: self.dispatcher.drain(self.stop))
        if n:
            self.announce(f"catch-up: dispatched {n} pending sources")
        self._next_sweep = time.monotonic() + self.settings.listen_sweep_seconds

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one dispatch or sweep; a failure is logged and retried by the next sweep.
        Database outages propagate, so the session reconnects."""
        try:
            return fn(*args)
        except (psycopg.OperationalError, DatabaseError):
            raise
        except Exception as e:
            log.warning("dispatch failed (retried by the next sweep): %s", e)
            return None
