"""Helpers for the trigger and orchestration tests: stored uploads, waits, a Prefect server
and `intaj` subprocesses (all real; each started process is stopped by its own PID)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from psycopg_pool import ConnectionPool

from core.settings import Settings
from pipeline.sources import storage_for, upload_key

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def upload(
    pool: ConnectionPool, settings: Settings, chatbot_id: str, name: str, data: bytes
) -> str:
    """What the SaaS does on upload: store the file, then INSERT the data_sources row."""
    key = upload_key(chatbot_id, name)
    storage_for(key, settings).write(key, data)
    suffix = name.rsplit(".", 1)[-1]
    with pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO data_sources (chatbot_id, type, path, name) VALUES (%s, %s, %s, %s)"
            " RETURNING id::text",
            (chatbot_id, suffix if suffix in ("pdf", "txt", "html", "md") else "file", key, name),
        ).fetchone()
    assert row is not None
    return str(row[0])


def status_of(pool: ConnectionPool, source_id: str) -> tuple[str, str | None]:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT status, error_code FROM data_sources WHERE id = %s", (source_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def wait_for(check: Callable[[], T], *, timeout: float, every: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"still {value!r} after {timeout} s"
            return value
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PREFECT_LOGGING_LEVEL": "WARNING", "DO_NOT_TRACK": "1"}, **extra)
    return env


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[Any]]:
    """A child process (its own session), stopped with SIGTERM (SIGKILL after 20 s)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of the process we started
        proc.wait(10)


def intaj_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "intaj"), *args]


@contextmanager
def prefect_server(home: Path, *, ui: bool = False) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME; yields the API URL.
    ``ui``: with its UI (on a port other than 4200 the UI needs PREFECT_UI_API_URL)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = child_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED=str(ui).lower(),
        **({"PREFECT_UI_API_URL": url} if ui else {}),
    )
    env.pop("PREFECT_API_URL", None)
    args = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    with process([*args, "--port", str(port)], env, home / "server.log") as proc:

        def healthy() -> bool:
            assert proc.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=120, every=0.5)
        try:
            yield url
        finally:
            _deliver_pending_events()


def _deliver_pending_events() -> None:
    """Send this process's queued Prefect events and logs while the server still answers;
    left queued, Prefect retries them against the stopped server at interpreter exit (the
    test run hung there for minutes when this module ran before others)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        worker.drain_all(timeout=30, at_exit=False)


def prefect_servers(home: Path) -> set[int]:
    """Pids of running Prefect API servers (uvicorn with Prefect's app factory) of the
    PREFECT_HOME ``home``: on a shared machine other processes start servers of their own."""
    found = set()
    mine = f"PREFECT_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"prefect.server.api.server:create_app" not in (entry / "cmdline").read_bytes():
                    continue
                if mine in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found
