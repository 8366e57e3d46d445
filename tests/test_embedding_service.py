"""The local embedding service (pipeline/embed/service.py): query commands embed their question
in a process that keeps the model loaded. Real processes: the service is started as the CLI
starts it, in a home of this module's own, and stopped at the end."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path

import numpy as np
import pytest

from core.settings import Settings
from pipeline.embed import Embedder, get_embedder
from pipeline.embed import service as embedding_service
from tests.fix_orchestration import wait_for

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc for processes")
QUESTIONS = ["How much do late returns cost?", "كم تكلفة الإرجاع المتأخر؟"]


def services_of(home: Path) -> set[int]:
    """Pids of running embedding services of ``home``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"pipeline.embed.service" not in (entry / "cmdline").read_bytes():
                continue
            if f"INTAJ_HOME={home}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def home_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    own = settings.model_copy(update={"home": tmp_path / "home"})
    yield own
    embedding_service.stop(own)
    wait_for(lambda: not services_of(own.home), timeout=10)


def test_the_service_gives_the_vectors_the_command_would_compute(
    home_settings: Settings, embedder: Embedder
) -> None:
    remote = embedding_service.remote(home_settings, embedder.model_name)
    assert remote is not None
    assert (remote.dimensions, remote.max_tokens) == (embedder.dimensions, embedder.max_tokens)
    here = get_embedder(home_settings, embedder.model_name)
    assert np.array_equal(remote.embed_queries(QUESTIONS), here.embed_queries(QUESTIONS))
    assert np.array_equal(remote.embed(QUESTIONS), here.embed(QUESTIONS))
    assert remote.count_tokens(QUESTIONS[0]) == here.count_tokens(QUESTIONS[0])


def test_commands_at_once_share_one_service_and_a_killed_one_is_replaced(
    home_settings: Settings, embedder: Embedder
) -> None:
    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(
            embedding_service.remote(home_settings, embedder.model_name)))
        for _ in range(4)
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 4 and None not in got
    (first,) = services_of(home_settings.home)

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: first not in services_of(home_settings.home), timeout=10)
    again = embedding_service.remote(home_settings, embedder.model_name)
    assert again is not None and again.embed_queries(QUESTIONS[:1]).shape == (1, 384)
    (second,) = services_of(home_settings.home)
    assert second != first


def test_a_client_without_the_key_is_refused_and_the_service_goes_on(
    home_settings: Settings, embedder: Embedder
) -> None:
    assert embedding_service.remote(home_settings, embedder.model_name) is not None
    socket = embedding_service.folder(home_settings) / "embed.sock"
    assert (socket.parent.stat().st_mode & 0o077) == 0  # only the user enters the folder
    with pytest.raises(AuthenticationError):
        Client(str(socket), family="AF_UNIX", authkey=b"not the key")
    remote = embedding_service.remote(home_settings, embedder.model_name)
    assert remote is not None and remote.embed_queries(QUESTIONS[:1]).shape == (1, 384)


def test_stop_leaves_nothing_running(home_settings: Settings, embedder: Embedder) -> None:
    assert embedding_service.remote(home_settings, embedder.model_name) is not None
    assert services_of(home_settings.home)
    assert embedding_service.stop(home_settings)
    wait_for(lambda: not services_of(home_settings.home), timeout=10)
    assert not embedding_service.stop(home_settings)  # nothing left to stop
