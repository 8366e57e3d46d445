"""Search benchmark: 100,000+ chunks across 100 chatbots (synthetic clustered vectors, see
bench/search_data.py), our HNSW index (db.chunks.ensure_model_index), then:

- latency p50/p95/p99 of ``db.search.search`` alone (vector mode and hybrid), at concurrency
  1 and 8;
- latency of ``retrieval.search.search`` including query embedding (real questions);
- recall@10 of the vector search against exact search under the chatbot filter
  (``db.search.exact_vector_ids``).

    python -m bench.search [--chatbots 100 --per-chatbot 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import child, search_data
from bench.server import server

BENCH = Path(__file__).resolve().parent
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
K = 10


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = np.asarray(sorted(samples_ms))
    return {
        "n": len(ordered),
        "p50_ms": float(np.percentile(ordered, 50)),
        "p95_ms": float(np.percentile(ordered, 95)),
        "p99_ms": float(np.percentile(ordered, 99)),
        "mean_ms": float(ordered.mean()),
    }


def timed(fn: Callable[[Any], object], items: Sequence[Any], concurrency: int) -> dict[str, Any]:
    """Run ``fn`` over ``items`` with ``concurrency`` threads; per-call latency and throughput."""

    def one(item: Any) -> float:
        start = time.perf_counter()
        fn(item)
        return (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one, items))
    wall = time.perf_counter() - start
    return {**percentiles(latencies), "concurrency": concurrency, "qps": len(items) / wall}


def build(pool: Any, *, chatbots: int, per_chatbot: int, seed: int) -> tuple[Any, dict[str, Any]]:
    from db import chunks as chunks_db

    rng = np.random.default_rng(seed)
    timings: dict[str, Any] = {}
    with pool.connection() as conn:
        start = time.perf_counter()
        owners = search_data.create_chatbots(conn, chatbots)
        world = search_data.make_world(rng, [c for c, _ in owners])
        rows = search_data.copy_chunks(
            conn, rng, world, owners, per_chatbot=per_chatbot, model=MODEL
        )
        timings["copy_s"] = time.perf_counter() - start
        start = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        chunks_db.ensure_model_index(conn, model=MODEL, dimensions=search_data.DIMS)
        conn.commit()
        timings["index_s"] = time.perf_counter() - start
        conn.execute("ANALYZE chunks")
        conn.commit()
    timings["rows"] = rows
    return world, timings


def _db_search(pool: Any, text_weight: float) -> Callable[[search_data.Query], object]:
    from db import search as search_db

    def run(q: search_data.Query) -> object:
        with pool.connection() as conn:
            return search_db.search(
                conn,
                chatbot_id=q.chatbot_id,
                model=MODEL,
                dimensions=search_data.DIMS,
                query_vector=q.vector,
                query_text=q.text,
                language="simple",
                k=K,
                text_weight=text_weight,
            )

    return run


def recall_at_k(pool: Any, queries: Sequence[search_data.Query]) -> dict[str, float]:
    from db import search as search_db

    approx = _db_search(pool, 0.0)
    recalls = []
    for q in queries:
        got = {r.id for r in approx(q)}  # type: ignore[attr-defined]
        with pool.connection() as conn:
            exact = search_db.exact_vector_ids(
                conn,
                chatbot_id=q.chatbot_id,
                model=MODEL,
                dimensions=search_data.DIMS,
                query_vector=q.vector,
                k=K,
            )
        recalls.append(len(got & set(exact)) / len(exact))
    return {"recall@10": statistics.mean(recalls), "min": min(recalls), "queries": len(queries)}


def index_scans(pool: Any) -> dict[str, int]:
    """Scans so far of each index on ``chunks``: which plan the searches took. Idle backends
    flush their statistics within a second, hence the wait."""
    time.sleep(1.5)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE relname = 'chunks'"
        ).fetchall()
    return {name: int(n) for name, n in rows}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _questions() -> list[str]:
    import json

    path = BENCH / "data" / "python-faq" / "qa_dev.jsonl"
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line]


def with_embedding(pool: Any, queries: Sequence[search_data.Query], mode: str) -> Callable:
    from core.settings import get_settings
    from retrieval.search import load_chatbot, search

    settings = get_settings()
    texts = _questions()
    jobs = [(q.chatbot_id, texts[i % len(texts)]) for i, q in enumerate(queries)]

    def run(job: tuple[str, str]) -> object:
        bot = load_chatbot(pool, job[0])  # as search() did before it took the chatbot
        return search(pool, settings, chatbot=bot, query=job[1], k=K, mode=mode)  # type: ignore[arg-type]

    run.jobs = jobs  # type: ignore[attr-defined]
    return run


def measure(pool: Any, world: search_data.World, *, n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    qs = search_data.queries(rng, world, n)
    warm = _db_search(pool, 0.0)
    for q in qs[:20]:
        warm(q)
    out: dict[str, Any] = {}
    for label, weight in (("vector", 0.0), ("hybrid", 1.0)):
        for conc in (1, 8):
            before = index_scans(pool)
            out[f"search_{label}_c{conc}"] = timed(_db_search(pool, weight), qs, conc)
            out[f"search_{label}_c{conc}"]["index_scans"] = _delta(before, index_scans(pool))
    for mode in ("vector", "hybrid"):
        fn = with_embedding(pool, qs[: n // 2], mode)
        fn(fn.jobs[0])  # load the model outside the timing
        for conc in (1, 8):
            out[f"embed_and_search_{mode}_c{conc}"] = timed(fn, fn.jobs, conc)
    out["recall"] = recall_at_k(pool, qs[: min(n, 200)])
    return out


def run(url: str, *, chatbots: int, per_chatbot: int, queries: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="intaj-bench-search-") as tmp:
        os.environ.update(DATABASE_URL=url, INTAJ_HOME=tmp, INTAJ_POOL_MAX_SIZE="10")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from core.settings import get_settings
        from db import open_pool

        pool = open_pool(get_settings())
        world, build_info = build(pool, chatbots=chatbots, per_chatbot=per_chatbot, seed=seed)
        result = measure(pool, world, n=queries, seed=seed)
    vector_p95 = result["search_vector_c1"]["p95_ms"]
    return {
        "chatbots": chatbots,
        "chunks": build_info["rows"],
        "build": build_info,
        **result,
        "targets": {
            "search_p95_le_20ms_c1": vector_p95 <= 20.0,
            "recall@10_ge_0.95": result["recall"]["recall@10"] >= 0.95,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Search benchmark")
    parser.add_argument("--chatbots", type=int, default=100)
    parser.add_argument("--per-chatbot", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "search.json")
    args = parser.parse_args()
    with server() as srv:
        url = srv.fresh_database("search")
        result = run(
            url,
            chatbots=args.chatbots,
            per_chatbot=args.per_chatbot,
            queries=args.queries,
            seed=args.seed,
        )
    child.dump(result, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
