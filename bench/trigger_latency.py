"""Trigger-to-ready latency of the upload trigger: the time from a data_sources INSERT (the
upload, committed) to the source's status 'ready', over N uploads one after another.

    python -m bench.trigger_latency --mode in-process -n 10   # `intaj listen`, no Prefect server
    python -m bench.trigger_latency --mode serve -n 10        # server + `intaj serve-flows`
                                                              #   + `intaj listen` (deployment)

Uses the database of the environment (DATABASE_URL or the embedded one under INTAJ_HOME) and a
throwaway chatbot; prints one JSON line with every latency and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from core.settings import get_settings
from db import chatbots as chatbots_db
from db import open_pool
from pipeline.sources import storage_for, upload_key

INTAJ = str(Path(sys.executable).parent / "intaj")


@contextmanager
def started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["in-process", "serve"], default="in-process")
    parser.add_argument("-n", type=int, default=10)
    opts = parser.parse_args()
    settings = get_settings()
    pool = open_pool(settings)
    tmp = Path(tempfile.mkdtemp(prefix="intaj-latency-"))
    env = dict(os.environ, PREFECT_HOME=str(tmp / "prefect"), PREFECT_LOGGING_LEVEL="WARNING")
    env.pop("PREFECT_API_URL", None)
    with ExitStack() as stack, pool.connection() as conn:
        owner = chatbots_db.create_profile(conn, name="bench", email=f"{uuid.uuid4().hex}@b.x")
        bot = chatbots_db.create(conn, user_id=owner, name="latency")
        stack.callback(lambda: conn.execute("DELETE FROM profiles WHERE id = %s", (owner,)))
        if opts.mode == "serve":
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            server = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
            stack.enter_context(started([*server, "--port", str(port)], env, tmp / "server.log"))
            env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
            wait(lambda: _healthy(env["PREFECT_API_URL"]), 120)
            stack.enter_context(started([INTAJ, "serve-flows"], env, tmp / "serve.log"))
            time.sleep(15)  # deployments created
        log = tmp / "listen.log"
        stack.enter_context(started([INTAJ, "listen"], env, log))
        wait(lambda: "listening on" in log.read_text(), 120)
        latencies = []
        for i in range(opts.n):
            key = upload_key(bot.id, f"note-{i}.txt")
            storage_for(key, settings).write(key, f"Latency note {i}: helmets.\n".encode())
            start = time.perf_counter()
            row = conn.execute(
                "INSERT INTO data_sources (chatbot_id, type, path, name)"
                " VALUES (%s, 'txt', %s, %s) RETURNING id",
                (bot.id, key, f"note-{i}.txt"),
            ).fetchone()
            conn.commit()
            assert row is not None
            while True:
                status = conn.execute(
                    "SELECT status FROM data_sources WHERE id = %s", (row[0],)
                ).fetchone()
                conn.commit()
                if status and status[0] in ("ready", "failed"):
                    break
                time.sleep(0.05)
            latencies.append(round(time.perf_counter() - start, 3))
        conn.commit()
    print(json.dumps({
        "mode": opts.mode, "n": opts.n, "median_s": statistics.median(latencies),
        "min_s": min(latencies), "max_s": max(latencies), "latencies_s": latencies,
    }))  # fmt: skip


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
