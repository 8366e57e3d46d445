"""Optional cross-encoder reranking of the fused hits (``INTAJ_RERANK_MODEL``).

Off by default. When a model is named, it is loaded from local files only (a folder, or a
model already in the Hugging Face cache): reranking never downloads at query time. A model
that is not available locally turns reranking off with one warning, and search goes on with
the fused order.

The reranker only reorders: a hit's ``score`` stays its cosine similarity, which the answer
thresholds (FAQ-first, abstain) are calibrated on; the cross-encoder's own score goes into
``metadata["rerank_score"]``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from core.types import Hit

log = logging.getLogger(__name__)


class Reranker:
    """A sentence-transformers CrossEncoder scoring (message, passage) pairs."""

    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.name = name
        self._lock = threading.Lock()  # one forward pass at a time (API worker threads)

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        with self._lock:
            out = self._model.predict([(query, p) for p in passages], show_progress_bar=False)
        return [float(x) for x in out]

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` ordered by the cross-encoder, best first (ties keep the fused order)."""
        # an FAQ hit's content holds its question and answer, a passage's its text
        scored = self.scores(query, [h.content for h in hits])
        order = sorted(range(len(hits)), key=lambda i: -scored[i])
        return [
            replace(hits[i], metadata={**hits[i].metadata, "rerank_score": round(scored[i], 4)})
            for i in order
        ]


@functools.cache
def load(name: str, device: str = "cpu") -> Reranker | None:
    """The reranker ``name`` from local files, or None (with a warning) when it is not there."""
    from sentence_transformers import CrossEncoder

    try:
        model = CrossEncoder(name, device=device, local_files_only=True)
    except Exception as e:  # missing files, not a cross-encoder, unreadable weights
        log.warning(
            "reranker %r is not available locally (%s): reranking is off. Put the model's"
            " files in a folder and set INTAJ_RERANK_MODEL to it, or unset it.",
            name,
            str(e).splitlines()[0] if str(e) else type(e).__name__,
        )
        return None
    return Reranker(model, name)
