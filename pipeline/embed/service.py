"""The local embedding service: one process per INTAJ_HOME that keeps local models loaded, so a
query command (``intaj search``, ``ask``, ``eval``) embeds its question without importing torch
or loading the model. That import and load were 1.6-2.5 s of every such command on the 2-core
development machine, most of its wall time (bench/fixed_costs.py, docs/operations.md).

The first query command that finds no service starts one (a process of its own session, so it
outlives the command, as the embedded PostgreSQL does) and waits for its socket; later commands
connect at once. The service loads a model the first time it is asked for it, with the
requesting command's embedding settings (backend, device, threads, batch size, model cache), so
its vectors are those the command would have computed itself, bit for bit. It exits after
``INTAJ_EMBEDDING_SERVICE_IDLE_SECONDS`` without a request, and ``intaj db stop`` stops it.

The socket (``INTAJ_HOME/run/embed.sock``) and its key (``embed.key``, mode 0600) live in a
folder only the user can enter; ``multiprocessing.connection`` authenticates every connection
with the key (HMAC challenge) before a message is read. A command that cannot reach a service
(it failed to start, an old one is stuck) embeds in its own process, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EmbeddingError
from core.locks import file_lock
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0  # seconds a command waits for a new service's socket
OPS = ("load", "embed", "embed_queries", "count_tokens")
SETTINGS_SENT = ("embedding_backend", "embedding_device", "embedding_threads",
                 "embedding_batch_size", "model_cache")  # fmt: skip


def folder(settings: Settings) -> Path:
    return settings.home / "run"


class RemoteEmbedder:
    """An :class:`~pipeline.embed.base.Embedder` whose model runs in the service."""

    def __init__(self, conn: Connection, model: str, info: dict[str, Any]):
        self._conn = conn
        self._lock = threading.Lock()
        self._model = model
        self.model_name: str = info["model_name"]
        self.dimensions: int = info["dimensions"]
        self.max_tokens: int = info["max_tokens"]
        self.tokens_add_up: bool = info["tokens_add_up"]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._call("embed", list(texts)))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._call("embed_queries", list(texts)))

    def count_tokens(self, text: str) -> int:
        return int(self._call("count_tokens", text))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()

    def _call(self, op: str, arg: Any) -> Any:
        with self._lock:
            self._conn.send((op, self._model, arg))
            ok, value = self._conn.recv()
        if not ok:
            raise EmbeddingError(f"the embedding service failed: {value[1]}", code=value[0])
        return value


def remote(settings: Settings, model: str) -> RemoteEmbedder | None:
    """The service's embedder for ``model`` (the service started if none answers), or None
    when no service can be reached (the caller embeds in its own process)."""
    try:
        conn = _connect(settings) or _start(settings)
        if conn is None:
            return None
        sent = {name: getattr(settings, name) for name in SETTINGS_SENT}
        conn.send(("load", model, sent))
        ok, info = conn.recv()
    except (OSError, EOFError) as e:
        log.debug("embedding service unreachable (embedding here): %s", e)
        return None
    if not ok:
        raise EmbeddingError(f"the embedding service failed: {info[1]}", code=info[0])
    return RemoteEmbedder(conn, model, info)


def stop(settings: Settings) -> bool:
    """Stop the home's service if one runs. Returns whether one did."""
    conn = _connect(settings)
    if conn is None:
        return False
    with contextlib.suppress(OSError, EOFError):
        conn.send(("stop", "", None))
        conn.recv()
    return True


def _connect(settings: Settings) -> Connection | None:
    run = folder(settings)
    try:
        key = (run / "embed.key").read_bytes()
        return Client(str(run / "embed.sock"), family="AF_UNIX", authkey=key)
    except (OSError, EOFError):
        return None


def _start(settings: Settings) -> Connection | None:
    """Start a service (one at a time per home: a lock) and connect to it."""
    run = folder(settings)
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    with file_lock(run / "embed.lock"):
        conn = _connect(settings)  # started meanwhile by another command
        if conn is not None:
            return conn
        with (run / "embed.log").open("ab") as out:
            subprocess.Popen(
                [sys.executable, "-m", "pipeline.embed.service"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True, env={**os.environ, "INTAJ_HOME": str(settings.home)},
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            conn = _connect(settings)
            if conn is not None:
                return conn
            time.sleep(0.05)
    log.debug("the embedding service did not start within %g s", START_TIMEOUT)
    return None


def serve(settings: Settings) -> None:
    """Run the service until it is idle for the configured time or told to stop."""
    run = folder(settings)
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file = run / "embed.key"
    key = secrets.token_bytes(32)
    key_file.unlink(missing_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    socket = run / "embed.sock"
    socket.unlink(missing_ok=True)
    listener = Listener(str(socket), family="AF_UNIX", authkey=key)
    state = {"last": time.monotonic()}
    idle = settings.embedding_service_idle_seconds

    def watch() -> None:
        while time.monotonic() - state["last"] < idle:
            time.sleep(min(5.0, idle))
        _exit(socket, key_file)

    threading.Thread(target=watch, daemon=True).start()
    while True:
        try:
            conn = listener.accept()
        except (OSError, EOFError) as e:  # a client that failed the key check
            log.warning("embedding service: refused a connection: %s", e)
            continue
        threading.Thread(target=_answer, args=(conn, settings, state, socket, key_file),
                         daemon=True).start()  # fmt: skip


def _answer(
    conn: Connection, settings: Settings, state: dict[str, float], socket: Path, key: Path
) -> None:
    from pipeline.embed.base import tokens_add_up
    from pipeline.embed.registry import get_embedder

    own: dict[str, Any] = {}
    with contextlib.closing(conn):
        while True:
            try:
                op, model, arg = conn.recv()
            except (OSError, EOFError):
                return
            state["last"] = time.monotonic()
            if op == "stop":
                conn.send((True, None))
                _exit(socket, key)
            try:
                if op not in OPS:
                    raise ValueError(f"unknown operation {op!r}")
                if op == "load":
                    own[model] = get_embedder(settings.model_copy(update=arg), model)
                    e = own[model]
                    value: Any = {
                        "model_name": e.model_name, "dimensions": e.dimensions,
                        "max_tokens": e.max_tokens, "tokens_add_up": tokens_add_up(e),
                    }  # fmt: skip
                else:
                    value = getattr(own[model], op)(arg)
                conn.send((True, value))
            except Exception as e:  # the command raises it (its code kept)
                code = getattr(e, "code", "embedding_failed")
                conn.send((False, (code, f"{type(e).__name__}: {e}")))


def _exit(socket: Path, key: Path) -> None:
    socket.unlink(missing_ok=True)
    key.unlink(missing_ok=True)
    os._exit(0)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    serve(get_settings())
