"""Tune the fusion of vector and full-text search on the eval dev set (one ingest, many
configurations), printing recall@1, recall@5 and MRR@10 for each.

    python -m bench.tune_hybrid            # ingests bench/data/python-faq/html first
    python -m bench.tune_hybrid --chatbot NAME   # reuse an ingested chatbot

Uses INTAJ_HOME / DATABASE_URL like the CLI. This is how the defaults in db/search.py and
core/settings.py were chosen; rerun it after changing chunking or the model.
"""

from __future__ import annotations

import json

from bench.evalset import DATA, chatbot_from_args
from bench.scoring import Retrieved, first_hit_rank, score

WEIGHTS = (0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)


def main() -> None:
    name = chatbot_from_args(__doc__, "tune")

    from db import chunks as chunks_db
    from db import search as search_db
    from db import sources as sources_db
    from intaj import services
    from pipeline.embed import get_embedder

    ctx = services.context()
    bot = services.chatbot(ctx, name)
    embedder = get_embedder(ctx.settings, bot.embedding_model or ctx.settings.embedding_model)
    questions = [json.loads(x) for x in (DATA / "qa_dev.jsonl").read_text().splitlines() if x]
    vectors = embedder.embed_queries([q["question"] for q in questions])
    with ctx.pool.connection() as conn:
        names = {s.id: s.name or s.path for s in sources_db.list_for(conn, chatbot_id=bot.id)}
        dims = chunks_db.model_dimensions(conn, model=embedder.model_name)
    assert dims is not None
    configs: list[tuple[float, search_db.Fusion]] = [(0.0, "weighted")]
    configs += [(w, f) for f in ("weighted", "rrf") for w in WEIGHTS]
    for weight, fusion in configs:
        ranks = []
        for q, vector in zip(questions, vectors, strict=True):
            with ctx.pool.connection() as conn:
                rows = search_db.search(
                    conn, chatbot_id=bot.id, model=embedder.model_name, dimensions=dims,
                    query_vector=vector, query_text=q["question"], language=bot.language,
                    k=10, text_weight=weight, fusion=fusion,
                )  # fmt: skip
            hits = [Retrieved(names.get(r.source_id or "", r.source), r.content) for r in rows]
            ranks.append(
                first_hit_rank(hits, answer=q["answer_text"], source_file=q["source_file"])
            )
        s = score(ranks)
        print(
            f"{'vector only' if not weight else fusion:<11} text_weight={weight:<4}"
            f"  recall@1 {s.recall_at_1:.3f}  recall@5 {s.recall_at_5:.3f}"
            f"  MRR@10 {s.mrr_at_10:.3f}"
        )


if __name__ == "__main__":
    main()
