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
    from bench.scoring import Retrieved, first_hit_rank
    from db import chunks as chunks_db
    from db import search as search_db
    from pipeline.embed import get_embedder
    from retrieval.answer import sentences

    embedder = get_embedder(ctx.settings, bot.embedding_model or ctx.settings.embedding_model)
    with ctx.pool.connection() as conn:
        dims = chunks_db.model_dimensions(conn, model=embedder.model_name)
    assert dims is not None
    cache: dict[int, np.ndarray] = {}
    out: dict[float, dict[str, int | None]] = {a: {} for a in ALPHAS}
    for q, vector in zip(asked, vectors, strict=True):
        if "answer_text" not in q:
            continue
        with ctx.pool.connection() as conn:
            rows = search_db.search(
                conn, chatbot_id=bot.id, model=embedder.model_name, dimensions=dims,
                query_vector=vector, query_text=q["question"], language=bot.language,
                k=CANDIDATES, text_weight=ctx.settings.search_text_weight, fusion="weighted",
            )  # fmt: skip
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
            found = [Retrieved(names.get(r.source_id or "", r.source), r.content) for r in scored]
            out[a][q["id"]] = first_hit_rank(
                found, answer=q["answer_text"], source_file=q["source_file"]
            )
    return out
