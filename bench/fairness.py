"""Fair ingestion under a backlog (issue 27; docs/orchestration.md, "Fair ingestion"): owner A
uploads ``--files`` files (200) at once, then owner B one small file. Measured, with fair
scheduling on (``INTAJ_INGEST_FAIR=true``) and off (first come, first served):

- B's trigger-to-ready (its INSERT committed to its status ``ready``) on an idle pipeline
  (one upload per round, before its backlogs) and behind A's backlog (``--runs`` backlogs),
  median and p95, after an unmeasured warm-up;
- A's total (its first INSERT to its last source settled) alone, and with B's upload (each
  backlog with B paired with one alone, mean against mean).

The goal: behind the backlog, B's p95 is at most 2x its idle p95, and A's total within 10% of
alone. The real processes run it: ``intaj listen`` in-process (one source at a time, the flow
in the listener), or ``--mode worker``: a Prefect server, ``intaj serve-flows`` (4 run slots)
and ``intaj listen`` in deployment mode.

    python -m bench.fairness --out bench/results/fairness.json
    python -m bench.fairness --mode worker --files 200 --runs 10

Uses the database of the environment and two throwaway owners (plan ``business``: A's files
fit its limits); prints one JSON object (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.machine import describe
from bench.trigger_latency import INTAJ, started, wait
from core.settings import get_settings
from db import chatbots as chatbots_db
from db import open_pool
from pipeline.sources import storage_for, upload_key


class Uploads:
    """What the SaaS does on an upload (store the file, INSERT the row), and the statuses."""

    def __init__(self, conn: psycopg.Connection, owner: str) -> None:
        self.conn, self.owner = conn, owner
        self.settings = get_settings()
        self.bot = chatbots_db.create(conn, user_id=owner, name=f"fair-{uuid.uuid4().hex[:6]}")
        conn.commit()

    def renew(self) -> None:
        """A new chatbot for the next backlog, the last one deleted (untimed): each backlog
        meets the same tables, not a chatbot that grew by every earlier backlog."""
        old = self.bot
        self.bot = chatbots_db.create(
            self.conn, user_id=self.owner, name=f"fair-{uuid.uuid4().hex[:6]}"
        )
        self.conn.execute("DELETE FROM chatbots WHERE id = %s", (old.id,))
        self.conn.commit()

    def upload(self, text: str, name: str) -> str:
        key = upload_key(self.bot.id, name)
        storage_for(key, self.settings).write(key, text.encode())
        row = self.conn.execute(
            "INSERT INTO data_sources (chatbot_id, type, path, name) VALUES (%s, 'txt', %s, %s)"
            " RETURNING id::text",
            (self.bot.id, key, name),
        ).fetchone()
        self.conn.commit()
        assert row is not None
        return str(row[0])

    def settled(self, ids: list[str]) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM data_sources WHERE id = ANY(%s::uuid[])"
            " AND status IN ('ready', 'failed')",
            (ids,),
        ).fetchone()
        self.conn.commit()
        return int(row[0]) if row else 0


def took(who: Uploads, source_id: str) -> float:
    """A settled upload's trigger-to-ready as the database recorded it: its row's INSERT to its
    status update (both ``now()`` of the server's transactions), free of the 0.2 s steps the
    polling in :func:`until_settled` sees."""
    row = who.conn.execute(
        "SELECT extract(epoch FROM updated_at - created_at) FROM data_sources WHERE id = %s",
        (source_id,),
    ).fetchone()
    who.conn.commit()
    assert row is not None
    return round(float(row[0]), 3)


PHASES = (
    "SELECT extract(epoch FROM s.claimed_at - s.created_at),"
    " extract(epoch FROM r.started_at - s.claimed_at),"
    " extract(epoch FROM r.finished_at - r.started_at),"
    " extract(epoch FROM s.updated_at - r.finished_at), r.timings"
    " FROM data_sources s JOIN ingestion_runs r ON r.source_id = s.id"
    " WHERE s.id = %s ORDER BY r.started_at DESC LIMIT 1"
)


def phases(who: Uploads, source_id: str) -> dict[str, Any]:
    """Where a settled upload's time went: INSERT to claim (the listener), claim to its run's
    start (the flow run's creation, the worker's poll, the flow engine), the run's stages, and
    the run's end to the status update; with the stages' own timings."""
    row = who.conn.execute(PHASES, (source_id,)).fetchone()
    who.conn.commit()
    if row is None:
        return {}
    names = ("to_claim", "claim_to_start", "run", "run_to_status")
    spans = {n: round(float(v), 3) for n, v in zip(names, row[:4], strict=True) if v is not None}
    return {**spans, "stages": row[4]}


def until_settled(who: Uploads, ids: list[str], start: float, timeout: float = 7200) -> float:
    wait(lambda: who.settled(ids) == len(ids), timeout)
    return round(time.perf_counter() - start, 3)


def backlog(a: Uploads, files: int, tag: str) -> list[str]:
    a.renew()
    text = "Backlog page {i} of {tag}: every rental includes a helmet and lock number {i}.\n"
    return [a.upload(text.format(i=i, tag=tag) * 20, f"a-{tag}-{i}.txt") for i in range(files)]


def measure(a: Uploads, b: Uploads, opts: argparse.Namespace) -> dict[str, Any]:
    """A warm-up first (a backlog of A and an upload of B, not measured: a new Prefect database
    and new processes are slower at first, measured 2x on A's first backlog); then ``rounds``
    rounds, each: B's upload on the idle pipeline, A's backlog alone and A's backlog with B's
    upload right after it (paired, so the neighbours' load moves all three alike; which of
    the two backlogs goes first alternates, so neither is always the later one)."""
    until_settled(a, backlog(a, min(opts.files, 50), "warm-up"), 0)
    until_settled(b, [b.upload("B's warm-up note: not measured.\n", "b-warm.txt")], 0)
    idle: list[float] = []
    alone: list[float] = []
    behind: list[float] = []
    totals: list[float] = []
    polled: dict[str, list[float]] = {"idle": [], "behind": []}
    spent: dict[str, list[dict[str, Any]]] = {"idle": [], "behind": []}
    for r in range(opts.rounds):
        start = time.perf_counter()
        upload = b.upload(f"B's note {r}: tandems.\n", f"b-{r}.txt")
        polled["idle"].append(until_settled(b, [upload], start))
        idle.append(took(b, upload))
        spent["idle"].append(phases(b, upload))
        for with_b in (r % 2 == 1, r % 2 == 0):
            start = time.perf_counter()
            ids = backlog(a, opts.files, f"{'run' if with_b else 'alone'}{r}")
            if not with_b:
                alone.append(until_settled(a, ids, start))
                continue
            b_start = time.perf_counter()
            late = [b.upload(f"B's late note {r}.\n", f"bl-{r}.txt")]
            polled["behind"].append(until_settled(b, late, b_start))
            behind.append(took(b, late[0]))
            spent["behind"].append(phases(b, late[0]))
            totals.append(until_settled(a, ids, start))
        print(
            f"round {r + 1}/{opts.rounds}: B idle {idle[-1]} s, A alone {alone[-1]} s,"
            f" with B {totals[-1]} s, B behind {behind[-1]} s",
            file=sys.stderr,
            flush=True,
        )
    return {
        "b_idle_s": idle,
        "b_behind_backlog_s": behind,
        "b_idle_p95_s": p95(idle),
        "b_behind_p95_s": p95(behind),
        "b_p95_ratio": round(p95(behind) / p95(idle), 2),
        "b_phases": spent,  # where each of B's seconds went (phases())
        "b_polled_s": polled,  # the same, seen by polling every 0.2 s (results before Dec 7, 18:00)
        "a_alone_s": alone,
        "a_with_b_s": totals,
        "a_total_ratio": round(statistics.mean(totals) / statistics.mean(alone), 3),
    }


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def pipeline(stack: ExitStack, env: dict[str, str], opts: argparse.Namespace, tmp: Path) -> None:
    """Start the processes that ingest uploads (module doc), waiting until they are ready."""
    if opts.mode == "worker":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if opts.prefect_database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = opts.prefect_database_url
        server = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        stack.enter_context(started([*server, "--port", str(port)], env, tmp / "server.log"))
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        wait(lambda: healthy(env["PREFECT_API_URL"]), 600)
        worker_log = tmp / "worker.log"
        stack.enter_context(started([INTAJ, "serve-flows"], env, worker_log))
        wait(lambda: "serving " in worker_log.read_text(errors="replace"), 600)
    log = tmp / "listen.log"
    stack.enter_context(started([INTAJ, "listen"], env, log))
    wait(lambda: "listening on" in log.read_text(errors="replace"), 600)


def healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run(opts: argparse.Namespace) -> dict[str, Any]:
    pool = open_pool(get_settings())
    results: dict[str, Any] = {
        "mode": opts.mode,
        "prefect_database": "postgresql" if opts.prefect_database_url else "sqlite",
        "files": opts.files,
        "runs": opts.runs,
        "runs_fair_off": opts.runs_off or opts.runs,
    }
    for fair in ("true", "false"):
        opts.rounds = opts.runs if fair == "true" else (opts.runs_off or opts.runs)
        tmp = Path(tempfile.mkdtemp(prefix=f"intaj-fair-{fair}-"))
        env = dict(os.environ, PREFECT_HOME=str(tmp / "prefect"), PREFECT_LOGGING_LEVEL="WARNING")
        env.pop("PREFECT_API_URL", None)
        env["INTAJ_INGEST_FAIR"] = fair
        with pool.connection() as conn, ExitStack() as stack:  # processes stop, then commit
            owners = [
                chatbots_db.create_profile(conn, name=n, email=f"{uuid.uuid4().hex}@fair.x")
                for n in ("a", "b")
            ]
            conn.execute(
                "UPDATE profiles SET subscription = 'business' WHERE id = ANY(%s::uuid[])",
                (owners,),
            )
            conn.commit()
            gone = "DELETE FROM profiles WHERE id = ANY(%s::uuid[])"
            stack.callback(conn.execute, gone, (owners,))
            a, b = Uploads(conn, owners[0]), Uploads(conn, owners[1])
            pipeline(stack, env, opts, tmp)
            results["fair" if fair == "true" else "first_come_first_served"] = {
                **measure(a, b, opts),
                "logs": str(tmp),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["in-process", "worker"], default="in-process")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--runs-off", type=int, help="rounds with fair scheduling off (default: --runs)"
    )
    parser.add_argument(
        "--prefect-database-url",
        help="--mode worker: the Prefect server's database (e.g. postgresql+asyncpg://postgres@"
        "127.0.0.1:5499/prefect; any PostgreSQL with pg_trgm), not its SQLite file",
    )
    parser.add_argument("--out", type=Path)
    opts = parser.parse_args()
    machine = describe()  # its load average at the start
    result = run(opts)
    result["machine"] = {**machine, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(result, indent=1)
    print(text)
    if opts.out:
        opts.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
