"""A LISTEN session kept up: run it until asked to stop, and whenever its database connection
drops, say so and run it again after a backoff (0.5 s, doubling to a ceiling, back to 0.5 s once
a session listens again). The upload trigger's listener (flows/trigger.py) and the warm
worker's run wake-ups (flows/run_wakeups.py) each keep one."""

from __future__ import annotations

import threading
from collections.abc import Callable

FIRST_DELAY = 0.5


def keep_listening(
    session: Callable[[Callable[[], None]], None],
    *,
    stop: threading.Event,
    lost: Callable[[Exception, float], None],
    errors: tuple[type[Exception], ...],
    max_backoff: float = 30.0,
) -> None:
    """Run ``session(listening)`` until ``stop`` is set. The session calls ``listening()`` once
    its LISTEN is in place, and returns when ``stop`` is set; when it raises one of ``errors``,
    ``lost(error, delay)`` is told, and it runs again ``delay`` seconds later (or not, once
    ``stop`` is set)."""
    delay = FIRST_DELAY

    def listening() -> None:
        nonlocal delay
        delay = FIRST_DELAY

    while not stop.is_set():
        try:
            session(listening)
        except errors as e:
            if stop.is_set():
                break
            lost(e, delay)
            stop.wait(delay)
            delay = min(delay * 2, max_backoff)
