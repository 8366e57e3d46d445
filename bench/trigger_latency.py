"""Trigger-to-ready latency of the upload trigger: the time from a data_sources INSERT (the
upload, committed) to the source's status 'ready', over N uploads one after another; then,
with ``--concurrent C``, C uploads at once (repeated ``--concurrent-rounds`` times) while the
serving process's peak RSS is sampled.

    python -m bench.trigger_latency --mode in-process -n 20  # `intaj listen`, no Prefect server
    python -m bench.trigger_latency --mode worker -n 20 --concurrent 4
        # server + `intaj serve-flows` (runs in its warm process) + `intaj listen` (deployment)
    python -m bench.trigger_latency --mode serve -n 5
        # the same with `intaj serve-flows --process-per-run` (a new process per flow run)

Uses the database of the environment (DATABASE_URL or the embedded one under INTAJ_HOME) and a
throwaway chatbot; prints one JSON object (and writes it with ``--out``): every latency, the
median and p95, the model loads the warm worker logged per upload (``worker`` mode), the peak
RSS of the process that runs the flows (the worker, or the listener in-process; with its
children: the parse sandbox), the machine (CPU flags, load).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.machine import describe
from core.settings import get_settings
from db import chatbots as chatbots_db
from db import open_pool
from pipeline.sources import storage_for, upload_key

INTAJ = str(Path(sys.executable).parent / "intaj")
LOADS = re.compile(r"model loads in this process: (\d+)")


@contextmanager
def started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.2)


class PeakRss:
    """Samples a process's RSS, alone and with its children, every 0.1 s."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.alone = self.tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            try:
                alone = self.proc.memory_info().rss
                tree = alone + sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            except psutil.Error:
                continue
            self.alone, self.tree = max(self.alone, alone), max(self.tree, tree)

    def close(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {"peak_rss_mb": self.alone / 2**20, "peak_rss_tree_mb": self.tree / 2**20}


def loads_logged(log: Path) -> int | None:
    found = LOADS.findall(log.read_text(errors="replace")) if log.exists() else []
    return int(found[-1]) if found else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["in-process", "worker", "serve"], default="worker")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=0, help="then C uploads at once")
    parser.add_argument("--concurrent-rounds", type=int, default=3)
    parser.add_argument("--concurrent-file", type=Path, help="upload this file C times at once")
    parser.add_argument(
        "--prefect-database-url",
        help="the Prefect server's database (e.g. postgresql+asyncpg://postgres@127.0.0.1:5499/"
        "prefect, what a production server uses); default: its SQLite file in a temporary"
        " PREFECT_HOME",
    )
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args()
    machine = describe()
    result = run(opts)
    result["machine"] = {**machine, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(result, indent=1)
    print(text)
    if opts.out:
        opts.out.write_text(text + "\n")


def run(opts: argparse.Namespace) -> dict[str, Any]:
    settings = get_settings()
    pool = open_pool(settings)
    tmp = Path(tempfile.mkdtemp(prefix="intaj-latency-"))
    env = dict(os.environ, PREFECT_HOME=str(tmp / "prefect"), PREFECT_LOGGING_LEVEL="WARNING")
    env.pop("PREFECT_API_URL", None)
    with ExitStack() as stack, pool.connection() as conn:
        owner = chatbots_db.create_profile(conn, name="bench", email=f"{uuid.uuid4().hex}@b.x")
        # plan business: 20 notes and the concurrent rounds pass the free plan's 20 sources
        conn.execute("UPDATE profiles SET subscription = 'business' WHERE id = %s", (owner,))
        bot = chatbots_db.create(conn, user_id=owner, name="latency")
        conn.commit()
        stack.callback(lambda: conn.execute("DELETE FROM profiles WHERE id = %s", (owner,)))
        worker_log = tmp / "serve.log"
        runner: subprocess.Popen[bytes] | None = None
        if opts.mode != "in-process":
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if opts.prefect_database_url:
                env["PREFECT_API_DATABASE_CONNECTION_URL"] = opts.prefect_database_url
            server = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
            stack.enter_context(started([*server, "--port", str(port)], env, tmp / "server.log"))
            env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
            wait(lambda: _healthy(env["PREFECT_API_URL"]), 600)
            extra = ["--process-per-run"] if opts.mode == "serve" else []
            runner = stack.enter_context(started([INTAJ, "serve-flows", *extra], env, worker_log))
            wait(lambda: _deployed(env["PREFECT_API_URL"], opts.mode, worker_log), 600)
        log = tmp / "listen.log"
        listener = stack.enter_context(started([INTAJ, "listen"], env, log))
        wait(lambda: "listening on" in log.read_text(), 600)
        runner = runner or listener
        before = loads_logged(worker_log)
        rss = PeakRss(runner.pid)

        def upload(i: int, data: bytes, name: str) -> str:
            key = upload_key(bot.id, name)
            storage_for(key, settings).write(key, data)
            row = conn.execute(
                "INSERT INTO data_sources (chatbot_id, type, path, name)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (bot.id, name.rsplit(".", 1)[-1], key, name),
            ).fetchone()
            conn.commit()
            assert row is not None
            return str(row[0])

        def settled(ids: list[str]) -> list[str]:
            rows = conn.execute(
                "SELECT status FROM data_sources WHERE id = ANY(%s::uuid[])", (ids,)
            ).fetchall()
            conn.commit()
            return [r[0] for r in rows if r[0] in ("ready", "failed")]

        latencies, failed = [], 0
        for i in range(opts.n):
            start = time.perf_counter()
            ids = [upload(i, f"Latency note {i}: helmets.\n".encode(), f"note-{i}.txt")]
            while not (done := settled(ids)):
                time.sleep(0.05)
            failed += done.count("failed")
            latencies.append(round(time.perf_counter() - start, 3))
        after_sequential = loads_logged(worker_log)
        concurrent = []
        for r in range(opts.concurrent_rounds if opts.concurrent else 0):
            start = time.perf_counter()
            if opts.concurrent_file:
                data, suffix = opts.concurrent_file.read_bytes(), opts.concurrent_file.suffix
            else:
                data, suffix = b"", ".txt"
            ids = [
                upload(
                    i, data or f"Concurrent note {r}-{i}: locks.\n".encode(), f"c{r}-{i}{suffix}"
                )
                for i in range(opts.concurrent)
            ]
            while len(done := settled(ids)) < len(ids):
                time.sleep(0.05)
            failed += done.count("failed")
            concurrent.append(round(time.perf_counter() - start, 3))
        memory = rss.close()
        after = loads_logged(worker_log)
    uploads = opts.n + opts.concurrent * len(concurrent)
    loaded = _minus(after, before)
    return {
        "mode": opts.mode,
        "prefect_database": "postgresql" if opts.prefect_database_url else "sqlite",
        "n": opts.n,
        "failed": failed,
        "median_s": statistics.median(latencies),
        "p95_s": _p95(latencies),
        "min_s": min(latencies),
        "max_s": max(latencies),
        "latencies_s": latencies,
        "model_loads_before_uploads": before,
        "model_loads_during_sequential_uploads": _minus(after_sequential, before),
        "uploads": uploads,
        "model_loads_per_upload": None if loaded is None else loaded / uploads,
        "model_loads_after_all": after,
        "concurrent": opts.concurrent,
        "concurrent_file": str(opts.concurrent_file) if opts.concurrent_file else None,
        "concurrent_rounds_s": concurrent,
        "serving_process": {"in-process": "intaj listen", "worker": "intaj serve-flows"}.get(
            opts.mode, "intaj serve-flows --process-per-run (children not included per run)"
        ),
        **{k: round(v, 1) for k, v in memory.items()},
        "logs": str(tmp),
    }


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _deployed(api: str, mode: str, log: Path) -> bool:
    if mode == "worker":
        return "serving " in log.read_text(errors="replace")
    try:
        return len(httpx.post(f"{api}/deployments/filter", json={}, timeout=5).json()) >= 5
    except (httpx.HTTPError, ValueError):
        return False


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
