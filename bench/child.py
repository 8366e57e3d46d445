"""Run one pipeline in a child process and measure it from outside: wall time, peak RSS
(psutil, sampled) of the child itself and of its whole process tree (sandboxed parsers,
Prefect's server), and where its CPU time went. A worker writes its own JSON result to the
path it is given."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SECONDS = 0.25  # cheap enough not to steal a core from the measured child
# Thread-name prefixes of the embedding backends' workers (pipeline/embed: bf16.py, onnx.py).
EMBED_THREADS = ("intaj-bf16", "intaj-onnx")


@dataclass
class ChildRun:
    wall_s: float
    returncode: int
    peak_rss_mb: float
    peak_tree_rss_mb: float
    cpu: dict[str, float]
    stdout: str
    stderr: str
    result: dict[str, Any] | None


class _Peaks:
    """Peak RSS of a process and of its tree, sampled from a thread until ``stop``; and CPU
    seconds, as last seen, of the process, of its embedding threads, of Prefect's server among
    its children, of its other children (with the children they reaped: the parse sandbox's
    fork server) and of the ``database``'s server backends (named in their command
    line), when given. Whatever ran after the last sample is missed (at most
    ``SAMPLE_SECONDS``)."""

    def __init__(self, proc: psutil.Process, database: str | None = None):
        self.own = self.tree = 0
        self._proc = proc
        self._database = database
        self._seen: dict[tuple[str, int], float] = {}  # (kind, pid or thread id) -> CPU s
        self._kinds: dict[int, str] = {}  # child pid -> its kind
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @property
    def cpu(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for (kind, _), seconds in self._seen.items():
            totals[kind] = totals.get(kind, 0.0) + seconds
        return totals

    def _sample(self) -> None:
        while not self._done.is_set():
            own, tree = _rss(self._proc)
            self.own, self.tree = max(self.own, own), max(self.tree, tree)
            self._sample_cpu()
            self._done.wait(SAMPLE_SECONDS)

    def _note(self, kind: str, key: int, seconds: float) -> None:
        self._seen[kind, key] = max(self._seen.get((kind, key), 0.0), seconds)

    def _sample_cpu(self) -> None:
        try:
            self._note("process_s", self._proc.pid, _cpu(self._proc))
            for tid, seconds in _thread_cpu(self._proc.pid, EMBED_THREADS).items():
                self._note("embed_threads_s", tid, seconds)
            # Direct children only, each with the children it reaped (the fork server's parse
            # runs): a grandchild seen alive would be counted again once reaped.
            for child in self._proc.children():
                with contextlib.suppress(psutil.Error):
                    # classified when first seen: an exiting process has no command line
                    if child.pid not in self._kinds:
                        server = "uvicorn" in _cmdline(child)
                        self._kinds[child.pid] = "prefect_server_s" if server else "children_s"
                    self._note(self._kinds[child.pid], child.pid, _cpu(child, reaped=True))
        except psutil.Error:
            pass
        if self._database:
            mark = f" {self._database} "
            for p in psutil.process_iter(["cmdline"]):
                if mark in " ".join(p.info["cmdline"] or ()) + " ":
                    with contextlib.suppress(psutil.Error):
                        self._note("database_s", p.pid, _cpu(p))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _rss(proc: psutil.Process) -> tuple[int, int]:
    try:
        own = proc.memory_info().rss
        tree = own + sum(_safe_rss(c) for c in proc.children(recursive=True))
    except psutil.Error:
        return 0, 0
    return own, tree


def _cpu(proc: psutil.Process, *, reaped: bool = False) -> float:
    """CPU seconds of ``proc``; ``reaped``: with those of the children it has waited for."""
    times = proc.cpu_times()
    seconds = times.user + times.system
    if reaped:
        seconds += times.children_user + times.children_system
    return float(seconds)


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _thread_cpu(pid: int, prefixes: tuple[str, ...]) -> dict[int, float]:
    """CPU seconds of each of ``pid``'s threads whose OS name starts with one of ``prefixes``
    (Linux; elsewhere none)."""
    found: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if (task / "comm").read_text().strip().startswith(prefixes):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime+stime
        except (OSError, IndexError, ValueError):
            continue
    return found


def _safe_rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 1800,
    database: str | None = None,
) -> ChildRun:
    """Run ``argv`` (``{out}`` in it is replaced by a result-file path) from the repo root.
    ``cpu["tree_s"]`` is the CPU time of the child and every descendant it waited for
    (getrusage of reaped children); ``database``: see :class:`_Peaks`."""
    with tempfile.TemporaryDirectory(prefix="intaj-bench-") as tmp:
        out = Path(tmp) / "result.json"
        args = [a.replace("{out}", str(out)) for a in argv]
        full_env = {**os.environ, **(env or {})}
        with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = psutil.Popen(args, cwd=ROOT, env=full_env, stdout=so, stderr=se)
            peaks = _Peaks(proc, database)
            try:
                proc.wait(timeout=timeout_s)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait()
            # The exit is seen when it happens: a wall time read between samples would round
            # a 0.4 s run up to the next sampling tick (it did: 0.5 s).
            wall = time.perf_counter() - start
            peaks.stop()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            tree_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            so.seek(0)
            se.seek(0)
            stdout, stderr = so.read(), se.read()
        result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return ChildRun(
        wall_s=wall,
        returncode=int(proc.returncode),
        peak_rss_mb=peaks.own / 2**20,
        peak_tree_rss_mb=peaks.tree / 2**20,
        cpu={"tree_s": tree_cpu, **peaks.cpu},
        stdout=stdout,
        stderr=stderr,
        result=result,
    )


def python_module(module: str, *args: str, python: str = sys.executable) -> list[str]:
    return [python, "-m", module, *args]


def require_ok(run_: ChildRun, what: str) -> ChildRun:
    if run_.returncode != 0:
        tail = (run_.stderr or run_.stdout)[-3000:]
        raise RuntimeError(f"{what} exited with {run_.returncode}:\n{tail}")
    return run_


def dump(data: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
