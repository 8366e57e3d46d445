"""Ingest the eval pages with our pipeline (the services the CLI uses, Prefect flow included),
then run every question through ``retrieval.search.search`` in each mode; writes the raw
results (file name and text of each hit) for bench/quality.py to score.

    python -m bench.workers.ours_quality --questions Q.jsonl --out R.json FILES...

Run with DATABASE_URL (a fresh database), INTAJ_HOME and PREFECT_HOME set.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

MODES = ("vector", "hybrid")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--questions", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    from db import sources as sources_db
    from intaj import app as services
    from retrieval.search import search

    ctx = services.context()
    bot = services.chatbot(ctx, "python-faq", create=True)
    ids = [r.source.id for f in args.files if (r := services.register(ctx, bot, str(f))).source]
    start = time.perf_counter()
    ingested = services.ingest(ctx, bot, ids)
    ingest_s = time.perf_counter() - start
    with ctx.pool.connection() as conn:
        names = {s.id: s.name or s.path for s in sources_db.list_for(conn, chatbot_id=bot.id)}
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line]
    results: dict[str, list[dict[str, Any]]] = {}
    for mode in MODES:
        rows = []
        for q in questions:
            hits = search(
                ctx.pool, ctx.settings, chatbot_id=bot.id, query=q["question"], k=10, mode=mode
            )
            rows.append(
                {
                    "id": q["id"],
                    "hits": [
                        {"file": names.get(h.source_id or "", h.source), "content": h.content}
                        for h in hits
                    ],
                }
            )
        results[mode] = rows
    summary = {
        "chunks": sum(int(s["chunks"]) for s in ingested),
        "failed": [s["source"] for s in ingested if s["status"] != "ready"],
        "ingest_s": ingest_s,
        "results": results,
    }
    args.out.write_text(json.dumps(summary), encoding="utf-8")


if __name__ == "__main__":
    main()
