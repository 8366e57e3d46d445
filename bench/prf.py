"""A ranking experiment (issue 17, item 4): pseudo-relevance feedback on the question vector.

The default hybrid search runs once; the question vector is then moved toward the vectors of
its ``m`` best hits (Rocchio: ``q' = q + beta x mean(top m)``, renormalised) and the search
runs again with q' (the full-text half unchanged). The hits a question finds first carry the
vocabulary of the documents it is about, so a reworded question can reach a passage it shares
few words with. ``beta = 0`` is the default ranking; (beta, m) is chosen per fold
(bench/cv.py). Run on each eval set's own chatbot and on the distractor chatbot, reusing the
chatbots bench/generalize.py and bench/centroid.py leave in INTAJ_HOME:

    INTAJ_HOME=/tmp/gen python -m bench.prf sets
    INTAJ_HOME=/tmp/dx python -m bench.prf distractors   # ingests 40 files first
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from bench import cv, distractors
from bench.candidates import HybridSearch, first_hit, source_names

CONFIGS: tuple[tuple[float, int], ...] = (
    (0.0, 0), (0.1, 1), (0.2, 1), (0.3, 1), (0.1, 3), (0.2, 3), (0.3, 3), (0.5, 3),
    (0.2, 5), (0.3, 5),
)  # fmt: skip
CANDIDATES = 40


def prf_ranks(
    ctx: Any, bot: Any, asked: list[dict[str, Any]]
) -> dict[tuple[float, int], dict[str, int | None]]:
    from db import chunks as chunks_db
    from retrieval.search import scope_of

    scope = scope_of(bot, ctx.settings)
    names = source_names(ctx, bot)
    search = HybridSearch(ctx, bot, scope.embedder.model_name, CANDIDATES)
    out: dict[tuple[float, int], dict[str, int | None]] = {c: {} for c in CONFIGS}
    vectors = scope.embedder.embed_queries([q["question"] for q in asked])
    for q, vector in zip(asked, vectors, strict=True):
        with ctx.pool.connection() as conn:
            first = search(conn, vector, q["question"])
            top = chunks_db.embeddings_of(conn, [r.id for r in first[:5]])
            for beta, m in CONFIGS:
                if beta == 0:
                    rows = first
                else:
                    feedback = np.mean([top[r.id] for r in first[:m]], axis=0)
                    moved = vector + beta * feedback
                    rows = search(conn, moved / np.linalg.norm(moved), q["question"])
                out[(beta, m)][q["id"]] = first_hit(rows, q, names)
    return out


def report(title: str, ranks: dict[tuple[float, int], dict[str, Any]], ids: list[str]) -> dict:
    print(title)
    rows = {}
    for c in CONFIGS:
        s = cv.scores_of(ranks[c], ids)
        rows[f"{c[0]}x{c[1]}"] = [s.recall_at_1, s.recall_at_5, s.mrr_at_10]
        print(f"  beta={c[0]:<4} m={c[1]} {s.recall_at_1:.3f} / {s.recall_at_5:.3f} / "
              f"{s.mrr_at_10:.3f}")  # fmt: skip
    summary = cv.cross_validate_ranking(list(CONFIGS), ranks, ids, label=str)
    default = cv.fixed(ranks[(0.0, 0)], ids)
    mean = " / ".join(f"{summary.mean[m]:.3f}" for m in cv.METRICS)
    base = " / ".join(f"{default.mean[m]:.3f}" for m in cv.METRICS)
    print(f"  default, CV: {base}")
    print(f"  tuned per fold, CV: {mean}; picked {[f['picked'] for f in summary.per_fold]}")
    return {"fixed": rows, "cv_default": default.mean, "cv_tuned": summary.mean,
            "picked": [f["picked"] for f in summary.per_fold]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("setting", choices=("sets", "distractors"))
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    from intaj import services

    ctx = services.context()
    result = {}
    for title, ranks, ids in distractors.experiment(ctx, args.setting, prf_ranks):
        result[title] = report(title, ranks, ids)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
