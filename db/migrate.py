"""Numbered plain-SQL migrations (``db/migrations/NNNN_name.sql``), applied in order, once each.

A tracking table records what ran; a session advisory lock makes concurrent upgrades safe
(the second waits, then finds nothing left to do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from core.errors import DatabaseError

_LOCK_KEY = 0x1A7A_0001
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    folder = resources.files("db") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def upgrade(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration on ``conn`` (autocommit). Returns those applied."""
    if not conn.autocommit:
        raise ValueError("upgrade() needs an autocommit connection")
    applied: list[Migration] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS intaj_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM intaj_migrations")}
        for migration in available():
            if migration.version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode("utf-8"))
                    conn.execute(
                        "INSERT INTO intaj_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
            except psycopg.Error as e:
                raise DatabaseError(
                    f"migration {migration.version:04d}_{migration.name} failed: {e}",
                    code="migration_failed",
                    transient=False,
                ) from e
            applied.append(migration)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def pending(conn: psycopg.Connection) -> list[Migration]:
    exists = conn.execute("SELECT to_regclass('intaj_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return available()
    done = {row[0] for row in conn.execute("SELECT version FROM intaj_migrations")}
    return [m for m in available() if m.version not in done]
