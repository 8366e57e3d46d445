"""Wake-ups for the warm worker (flows/worker.py): the upload trigger announces each flow run
it creates (``NOTIFY intaj_flow_run``, db/dispatch.py), and the worker polls the Prefect
server at once instead of at its next poll (every 0.5 s: on average a quarter of a second
added to every upload, and a run slot left idle as long between two runs of a backlog).

The poll stays: runs started from the Prefect UI are found by it, as are runs announced while
the database connection was down. Any database the worker can reach works (no transaction
pooler: no LISTEN there); without one, the worker polls as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from core.errors import DatabaseError
from core.settings import Settings
from db import dispatch as dispatch_db
from db.connection import connect, database_url
from flows.reconnecting import keep_listening

log = logging.getLogger(__name__)


def wake_on_new_runs(settings: Settings, wake: threading.Event, stop: threading.Event) -> None:
    """Start a daemon thread that sets ``wake`` for every flow run announced, until ``stop``;
    it reconnects with backoff (0.5 s doubling to 30 s) when the connection drops."""
    thread = threading.Thread(
        target=_listen, args=(settings, wake, stop), name="intaj-run-wakeups", daemon=True
    )
    thread.start()


def _listen(settings: Settings, wake: threading.Event, stop: threading.Event) -> None:
    def session(listening: Callable[[], None]) -> None:
        with connect(database_url(settings), autocommit=True) as conn:
            dispatch_db.listen(conn, dispatch_db.RUNS_CHANNEL)
            listening()
            while not stop.is_set():
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    wake.set()

    def lost(error: Exception, delay: float) -> None:
        log.info("run wake-ups paused (%s); polling meanwhile, retrying in %.1f s", error, delay)

    keep_listening(session, stop=stop, lost=lost, errors=(psycopg.Error, DatabaseError, OSError))
