"""The answer without an LLM (pure but for the sentence vectors): the sentences of the best
passages closest to the message, in reading order, each with the [n] of its passage; and the
numbered citations any answer carries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.types import Citation, Hit
from pipeline.sentences import sentences

if TYPE_CHECKING:
    from retrieval.search import Scope

SNIPPET_CHARS = 240


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def cite(hits: Sequence[Hit]) -> tuple[Citation, ...]:
    """Numbered citations, one per hit, in the given order."""
    return tuple(
        Citation(
            number=i,
            source=h.source,
            metadata=h.metadata,
            snippet=snippet(answer_text(h)),
            score=round(h.score, 4),
            chunk_id=h.chunk_id,
        )
        for i, h in enumerate(hits, start=1)
    )


def answer_text(hit: Hit) -> str:
    """What a hit can contribute to an answer: an FAQ's answer, or a chunk's content."""
    return str(hit.metadata.get("answer", hit.content)) if hit.is_faq else hit.content


def extract(
    message_vector: np.ndarray, hits: Sequence[Hit], scope: Scope, *, max_sentences: int = 3
) -> tuple[str, list[Hit]]:
    """The sentences of ``hits`` closest to the message, in reading order, with [n] markers.
    A sentence's score is its similarity to the message, lifted by its passage's rank."""
    candidates, seen = [], set()
    for n, h in enumerate(hits, 1):
        for i, s in enumerate(sentences(answer_text(h))):
            key = " ".join(s.lower().split())
            if key not in seen:  # the same sentence in two passages (two copies of a file)
                seen.add(key)
                candidates.append((n, i, s))
    if not candidates:
        top = list(hits[:1])
        return " ".join(f"{snippet(answer_text(h))} [1]" for h in top), top
    vectors = scope.embedder.embed([s for _, _, s in candidates])
    prior = np.array([hits[n - 1].score for n, _, _ in candidates], dtype=np.float32)
    scores = 0.7 * (vectors @ message_vector) + 0.3 * prior
    best = sorted(np.argsort(-scores)[:max_sentences], key=lambda j: candidates[j][:2])
    used = sorted({candidates[j][0] for j in best})
    text = " ".join(f"{candidates[j][2]} [{used.index(candidates[j][0]) + 1}]" for j in best)
    return text, [hits[n - 1] for n in used]
