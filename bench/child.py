"""Run one pipeline in a child process and measure it from outside: wall time, and peak RSS
(psutil, sampled) of the child itself and of its whole process tree (sandboxed parsers,
Prefect's server). A worker writes its own JSON result to the path it is given."""

from __future__ import annotations

import json
import os
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


@dataclass
class ChildRun:
    wall_s: float
    returncode: int
    peak_rss_mb: float
    peak_tree_rss_mb: float
    stdout: str
    stderr: str
    result: dict[str, Any] | None


class _Peaks:
    """Peak RSS of a process and of its tree, sampled from a thread until ``stop``."""

    def __init__(self, proc: psutil.Process):
        self.own = self.tree = 0
        self._proc = proc
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            own, tree = _rss(self._proc)
            self.own, self.tree = max(self.own, own), max(self.tree, tree)
            self._done.wait(SAMPLE_SECONDS)

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


def _safe_rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


def run(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout_s: float = 1800
) -> ChildRun:
    """Run ``argv`` (``{out}`` in it is replaced by a result-file path) from the repo root."""
    with tempfile.TemporaryDirectory(prefix="intaj-bench-") as tmp:
        out = Path(tmp) / "result.json"
        args = [a.replace("{out}", str(out)) for a in argv]
        full_env = {**os.environ, **(env or {})}
        with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
            start = time.perf_counter()
            proc = psutil.Popen(args, cwd=ROOT, env=full_env, stdout=so, stderr=se)
            peaks = _Peaks(proc)
            try:
                proc.wait(timeout=timeout_s)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait()
            # The exit is seen when it happens: a wall time read between samples would round
            # a 0.4 s run up to the next sampling tick (it did: 0.5 s).
            wall = time.perf_counter() - start
            peaks.stop()
            so.seek(0)
            se.seek(0)
            stdout, stderr = so.read(), se.read()
        result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return ChildRun(
        wall_s=wall,
        returncode=int(proc.returncode),
        peak_rss_mb=peaks.own / 2**20,
        peak_tree_rss_mb=peaks.tree / 2**20,
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
