"""A ranking experiment (issue 17, item 4): sentence-window rescoring with the embedder itself.

The default hybrid ranking (weighted fusion: cosine + w x BM25/best) fetches 20 candidates;
each candidate's cosine is blended with its best *sentence's* cosine to the question:
``(1 - a) x chunk cosine + a x best sentence cosine + text bonus``. A long chunk whose one
sentence answers the question is no longer diluted by the rest. ``a = 0`` is the default
ranking (before near-duplicate collapsing, which does not change first-hit ranks here).
Sentence vectors are cached per chunk for the run, so the experiment embeds each candidate
chunk's sentences once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ALPHAS = (0.0, 0.2, 0.35, 0.5)
CANDIDATES = 20


def sentence_ranks(
    ctx: Any, bot: Any, asked: list[dict[str, Any]], vectors: np.ndarray, names: dict[str, str]
) -> dict[float, dict[str, int | None]]:
    from bench.candidates import HybridSearch, first_hit
    from pipeline.embed import get_embedder
    from pipeline.sentences import sentences

    embedder = get_embedder(ctx.settings, bot.embedding_model or ctx.settings.embedding_model)
    search = HybridSearch(ctx, bot, embedder.model_name, CANDIDATES)
    assert search.dims is not None
    cache: dict[int, np.ndarray] = {}
    out: dict[float, dict[str, int | None]] = {a: {} for a in ALPHAS}
    for q, vector in zip(asked, vectors, strict=True):
        if "answer_text" not in q:
            continue
        with ctx.pool.connection() as conn:
            rows = search(conn, vector, q["question"])
        todo = [r for r in rows if r.id not in cache]
        if todo:
            split = [sentences(r.content) or [r.content] for r in todo]
            flat = embedder.embed([s for parts in split for s in parts])
            start = 0
            for r, parts in zip(todo, split, strict=True):
                cache[r.id] = flat[start : start + len(parts)]
                start += len(parts)
        for a in ALPHAS:
            scored = sorted(
                rows,
                key=lambda r: (
                    -(
                        (1 - a) * r.similarity
                        + a * float(np.max(cache[r.id] @ vector))
                        + (r.fused - r.similarity)
                    )
                ),
            )
            out[a][q["id"]] = first_hit(scored, q, names)
    return out
