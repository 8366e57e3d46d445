"""A LISTEN session kept up (flows/reconnecting.py): lost connections are retried with a
backoff that doubles, and starts over once a session listens again; a stop ends it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from flows.reconnecting import keep_listening


class Dropped(Exception):
    pass


def test_backoff_doubles_while_down_and_starts_over_once_listening() -> None:
    stop = threading.Event()
    delays: list[float] = []
    sessions = iter(["down", "down", "listens then drops", "down", "listens until stop"])

    def session(listening: Callable[[], None]) -> None:
        step = next(sessions)
        if step.startswith("listens"):
            listening()
        if step == "listens until stop":
            stop.set()
            return
        raise Dropped(step)

    keep_listening(
        session, stop=stop, lost=lambda e, d: delays.append(d), errors=(Dropped,), max_backoff=0.8
    )
    # 0.5, doubled to the ceiling; a session that listened starts the backoff over
    assert delays == [0.5, 0.8, 0.5, 0.8]


def test_an_error_it_was_not_told_of_is_raised() -> None:
    def session(listening: Callable[[], None]) -> None:
        raise KeyError("a bug, not a lost connection")

    with pytest.raises(KeyError):
        keep_listening(session, stop=threading.Event(), lost=lambda e, d: None, errors=(Dropped,))
