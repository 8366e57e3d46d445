"""The database floor: connections, migrations and the query functions (all SQL lives here).

Use :func:`open_pool`: it resolves the URL (``DATABASE_URL`` or the embedded server), applies
pending migrations once per process, and returns the process-wide pool.
"""

from __future__ import annotations

import threading

from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import migrate
from db.connection import connect, database_url, get_pool

_migrated: set[str] = set()
_lock = threading.Lock()


def open_pool(settings: Settings) -> ConnectionPool:
    url = database_url(settings)
    with _lock:
        if url not in _migrated:
            with connect(url, autocommit=True) as conn:
                migrate.upgrade(conn)
            _migrated.add(url)
    return get_pool(url, max_size=settings.pool_max_size, timeout=settings.db_timeout_seconds)
