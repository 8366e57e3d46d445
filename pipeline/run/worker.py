"""Which process runs an ingestion, and whether that process still lives.

Each run row names its process (``ingestion_runs.worker``: ``host:pid:start``, the start being
the process's start time in clock ticks since boot, read from ``/proc``, so that a recycled
pid is not taken for the process that died). A command that starts on the same host can then
tell at once that a ``running`` run belongs to a process that is gone (killed, crashed) and
close it, instead of waiting for its lease to lapse (``pipeline/run/orphans.py``). Runs of
other hosts are left to their lease and the sweeper.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path


@cache
def this_process() -> str:
    """This process, as a run row names it."""
    return name_of(os.getpid())


def name_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"


def on_this_host(worker: str) -> bool:
    return worker.rsplit(":", 2)[0] == socket.gethostname()


def pid_of(worker: str) -> int:
    """The pid in a name :func:`name_of` wrote."""
    return int(worker.rsplit(":", 2)[1])


def is_gone(worker: str) -> bool:
    """Whether ``worker`` (a process of this host) has ended. A process of another host, or a
    name this module did not write, is never counted gone."""
    parts = worker.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid, started = int(parts[1]), parts[2]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    now = _start_ticks(pid)
    return bool(started and now and now != started) or _is_zombie(pid)


def _start_ticks(pid: int) -> str | None:
    """The process's start time (``/proc/<pid>/stat`` field 22), or None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command's name start at 3


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
