"""Process-local progress reporting: the CLI installs a listener, the flows report to it.

Progress is not a flow parameter (parameters go to the Prefect API and must stay small and
serialisable); a listener lives only in the process that runs the flow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Report = Callable[[str, int, int], None]  # (stage, done, total)
Listener = Callable[[str, str, int, int], None]  # (source_id, stage, done, total)

_lock = threading.Lock()
_listener: Listener | None = None


def set_listener(listener: Listener | None) -> None:
    global _listener
    with _lock:
        _listener = listener


def reporter(source_id: str) -> Report:
    def report(stage: str, done: int, total: int) -> None:
        listener = _listener
        if listener is not None:
            listener(source_id, stage, done, total)

    return report
