"""Run every eval question through ``retrieval.search.search`` in each mode, for a chatbot our
pipeline has ingested (bench/quality.py ingests with ``intaj ingest`` first); writes the raw
results (file name and text of each hit) for bench/quality.py to score.

    python -m bench.workers.ours_quality --chatbot NAME --questions Q.jsonl --out R.json

Run with DATABASE_URL and INTAJ_HOME set as for the ingest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from db.search import Fusion
    from retrieval.search import Mode

# name -> (search mode, fusion); "hybrid" is the default configuration.
MODES: dict[str, tuple[Mode, Fusion]] = {
    "vector": ("vector", "weighted"),
    "hybrid": ("hybrid", "weighted"),
    "hybrid_rrf": ("hybrid", "rrf"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chatbot", required=True)
    parser.add_argument("--questions", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    from db import sources as sources_db
    from intaj import services
    from retrieval.search import search

    ctx = services.context()
    bot = services.chatbot(ctx, args.chatbot)
    with ctx.pool.connection() as conn:
        names = {s.id: s.name or s.path for s in sources_db.list_for(conn, chatbot_id=bot.id)}
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line]
    results: dict[str, list[dict[str, Any]]] = {}
    for name, (mode, fusion) in MODES.items():
        settings = ctx.settings.model_copy(update={"search_fusion": fusion})
        rows = []
        for q in questions:
            hits = search(ctx.pool, settings, chatbot=bot, query=q["question"], k=10, mode=mode)
            rows.append(
                {
                    "id": q["id"],
                    "hits": [
                        {"file": names.get(h.source_id or "", h.source), "content": h.content}
                        for h in hits
                    ],
                }
            )
        results[name] = rows
    args.out.write_text(json.dumps({"results": results}), encoding="utf-8")


if __name__ == "__main__":
    main()
