"""What the ranking experiments (bench/generalize.py, sentwin.py, centroid.py, prf.py) share:
one chatbot's source names, its default hybrid search at the SQL level (``db/search.py``,
weighted fusion, before near-duplicate collapsing), and the scoring rule's first-hit rank of a
list of hits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.scoring import Retrieved, first_hit_rank


def source_names(ctx: Any, bot: Any) -> dict[str, str]:
    """Each source's name (its file name as the eval sets give it), by source id."""
    from db import sources as sources_db

    with ctx.pool.connection() as conn:
        return {s.id: s.name or s.path for s in sources_db.list_for(conn, chatbot_id=bot.id)}


def first_hit(hits: Sequence[Any], question: dict[str, Any], names: dict[str, str]) -> int | None:
    """1-based rank of the first hit (of the first 10) that answers ``question``, or None."""
    found = [Retrieved(names.get(h.source_id or "", h.source), h.content) for h in hits]
    return first_hit_rank(
        found, answer=question["answer_text"], source_file=question["source_file"]
    )


class HybridSearch:
    """``db.search.search`` of one chatbot under ``model``, k candidates, as `intaj ask` fuses
    (weighted, the settings' text weight)."""

    def __init__(self, ctx: Any, bot: Any, model: str, k: int):
        from db import chunks as chunks_db

        with ctx.pool.connection() as conn:
            self.dims = chunks_db.model_dimensions(conn, model=model)
        self.ctx, self.bot, self.model, self.k = ctx, bot, model, k

    def __call__(self, conn: Any, vector: np.ndarray, text: str) -> list[Any]:
        from db import search as search_db

        return search_db.search(
            conn, chatbot_id=self.bot.id, model=self.model, dimensions=self.dims,
            query_vector=vector, query_text=text, language=self.bot.language, k=self.k,
            text_weight=self.ctx.settings.search_text_weight, fusion="weighted",
        )  # fmt: skip
