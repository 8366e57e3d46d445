"""A ranking experiment (issue 17, item 4): whole-document smoothing ("multi-vector pages").

Each source gets one more vector, the normalised mean of its chunk vectors; the 40 best hits
of the default hybrid ranking are re-ranked by ``fused + b x cosine(question, centroid of the
hit's source)``, so a passage from a document that is about the question as a whole moves up
and one from an unrelated manual moves down. ``b = 0`` is the default ranking; b is chosen per
fold (bench/cv.py) from BETAS. Run on each eval set's own chatbot and on the distractor
chatbot (every set's pages + the quick corpus), reusing the chatbots bench/generalize.py and
bench/distractors.py-style ingests leave in INTAJ_HOME:

    INTAJ_HOME=/tmp/gen python -m bench.centroid sets
    INTAJ_HOME=/tmp/dx python -m bench.centroid distractors   # ingests 40 files first
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench import cv, distractors
from bench.candidates import HybridSearch, first_hit, source_names

BETAS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
CANDIDATES = 40


def centroid_ranks(ctx: Any, bot: Any, asked: list[dict[str, Any]]) -> dict[float, dict[str, Any]]:
    from db import chunks as chunks_db
    from retrieval.search import scope_of

    scope = scope_of(bot, ctx.settings)
    model = scope.embedder.model_name
    names = source_names(ctx, bot)
    search = HybridSearch(ctx, bot, model, CANDIDATES)
    with ctx.pool.connection() as conn:
        by_source = chunks_db.source_embeddings(conn, chatbot_id=bot.id, model=model)
    centroids = {}
    for source_id, vectors in by_source.items():
        arrays = [np.asarray(getattr(v, "to_numpy", lambda v=v: v)(), np.float32) for v in vectors]
        mean = np.mean(arrays, axis=0)
        centroids[source_id] = mean / np.linalg.norm(mean)
    out: dict[float, dict[str, Any]] = {b: {} for b in BETAS}
    for q, vector in zip(
        asked, scope.embedder.embed_queries([q["question"] for q in asked]), strict=True
    ):
        with ctx.pool.connection() as conn:
            rows = search(conn, vector, q["question"])
        for b in BETAS:
            doc = {r.id: float(centroids.get(str(r.source_id), 0 * vector) @ vector) for r in rows}
            out[b][q["id"]] = first_hit(
                sorted(rows, key=lambda r: -(r.fused + b * doc[r.id])), q, names
            )
    return out


def report(title: str, ranks: dict[float, dict[str, Any]], ids: list[str]) -> None:
    print(title)
    for b in BETAS:
        s = cv.scores_of(ranks[b], ids)
        print(f"  b={b:<5} {s.recall_at_1:.3f} / {s.recall_at_5:.3f} / {s.mrr_at_10:.3f}")
    summary = cv.cross_validate_ranking(list(BETAS), ranks, ids, label=str)
    mean = " / ".join(f"{summary.mean[m]:.3f}" for m in ("recall@1", "recall@5", "mrr@10"))
    print(f"  b tuned per fold, CV: {mean}; picked {[f['picked'] for f in summary.per_fold]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("setting", choices=("sets", "distractors"))
    args = parser.parse_args()
    from intaj import services

    ctx = services.context()
    for title, ranks, ids in distractors.experiment(ctx, args.setting, centroid_ranks):
        report(title, ranks, ids)


if __name__ == "__main__":
    main()
