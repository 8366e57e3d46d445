"""Run a parse in a child process under a time and memory budget.

The child comes from a ``forkserver`` (started once, with the parser modules preloaded), so it
never inherits the caller's threads, torch or database connections, and starting one costs
a fork, not an interpreter. In the child: ``RLIMIT_AS`` caps memory and ``RLIMIT_CPU`` caps CPU
time; the parent enforces the wall-clock limit and kills the child past it. Whatever happens in
the child, the caller gets the result or a :class:`ParseError`:

- a ParseError raised in the child comes back with its code and message;
- time, memory or a killed child: ``resource_limit``;
- any other exception: ``unparseable`` naming it.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.forkserver
import resource
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from core.errors import ParseError

T = TypeVar("T")

PRELOAD = ["pipeline.parse.registry"]
_context = multiprocessing.get_context("forkserver")
_preload_set = False
MB = 1024 * 1024


def _limit_self(max_seconds: float, max_memory_bytes: int) -> None:
    cpu = math.ceil(max_seconds) + 1  # the wall clock (parent) normally fires first
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (max_memory_bytes, max_memory_bytes))


def _child(
    conn: Connection,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    max_seconds: float,
    max_memory_bytes: int,
) -> None:
    """The child's whole life: limit itself, run ``fn``, send back one tagged tuple."""
    try:
        _limit_self(max_seconds, max_memory_bytes)
        reply: tuple[Any, ...] = ("ok", fn(*args))
    except ParseError as e:
        reply = ("error", e.code, e.message)
    except MemoryError:
        reply = ("memory",)
    except BaseException as e:
        reply = ("crash", f"{type(e).__name__}: {e}")
    try:
        conn.send(reply)
    except MemoryError:
        conn.send(("memory",))
    finally:
        conn.close()


def _limit_error(name: str, max_seconds: float, max_memory_bytes: int, what: str) -> ParseError:
    limits = {
        "time": f"{max_seconds:g} s (INTAJ_PARSE_MAX_SECONDS)",
        "memory": f"{max_memory_bytes // MB} MB (INTAJ_PARSE_MAX_MEMORY_BYTES)",
        "either": f"{max_seconds:g} s / {max_memory_bytes // MB} MB "
        "(INTAJ_PARSE_MAX_SECONDS / INTAJ_PARSE_MAX_MEMORY_BYTES)",
    }[what]
    return ParseError(
        f"{name} exceeded the parse limit of {limits}; split the document or raise the limit",
        code="resource_limit",
    )


def _reply_error(reply: tuple[Any, ...], name: str, seconds: float, memory: int) -> ParseError:
    if reply[0] == "error":
        return ParseError(reply[2], code=reply[1])
    if reply[0] == "memory":
        return _limit_error(name, seconds, memory, "memory")
    return ParseError(
        f"{name} could not be parsed: the parser failed ({reply[1]}); the file may be damaged",
        code="unparseable",
    )


def _preload() -> None:
    global _preload_set
    if not _preload_set:
        _context.set_forkserver_preload(PRELOAD)
        _preload_set = True


def _start(target_args: tuple[Any, ...]) -> tuple[multiprocessing.process.BaseProcess, Connection]:
    _preload()
    receiver, sender = _context.Pipe(duplex=False)
    process = _context.Process(target=_child, args=(sender, *target_args), daemon=True)
    process.start()
    sender.close()  # the child holds the other end; EOF here means the child is gone
    return process, receiver


def run(
    fn: Callable[..., T],
    args: tuple[Any, ...],
    *,
    name: str,
    max_seconds: float,
    max_memory_bytes: int,
) -> T:
    """``fn(*args)`` in a limited child process. ``fn`` and ``args`` must pickle (``fn``: a
    module-level function)."""
    process, receiver = _start((fn, args, max_seconds, max_memory_bytes))
    reply: tuple[Any, ...] | None = None
    try:
        timed_out = not receiver.poll(max_seconds)
        if not timed_out:
            reply = receiver.recv()
    except EOFError:  # died without a word: RLIMIT_CPU, the OOM killer, a crash
        pass
    finally:
        receiver.close()
        if reply is None and process.is_alive():
            process.kill()
        process.join(5)
    if reply is None:
        what = "time" if timed_out or process.exitcode == -signal.SIGXCPU else "either"
        raise _limit_error(name, max_seconds, max_memory_bytes, what)
    if reply[0] == "ok":
        result: T = reply[1]
        return result
    raise _reply_error(reply, name, max_seconds, max_memory_bytes)


def warm_up(*, wait: bool = True) -> None:
    """Start the fork server now (about a second) instead of on the first document; without
    ``wait``, return as soon as it is started: it loads the parsers in its own process while
    this one goes on, and the first document waits for what is left."""
    if not wait:
        _preload()
        multiprocessing.forkserver.ensure_running()
        return
    with contextlib.suppress(ParseError):
        run(int, ("0",), name="warm-up", max_seconds=30, max_memory_bytes=1024 * MB)
