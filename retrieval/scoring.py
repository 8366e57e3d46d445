"""The retrieval scoring rule shared by ``intaj eval`` and the benchmarks (bench/scoring.py,
bench/data/python-faq/README.md): whether a passage holds a gold answer, and the recall@k /
MRR@10 of first-hit ranks.

With texts lowercased and reduced to ``[a-z0-9]+`` words (and Arabic words, after the
normalisation text search applies: ``retrieval.language.fold``) compared as sets of word 3-grams
(n = min(3, words in the shorter text)), a passage *matches* an answer when at least 50% of
the passage's n-grams occur in the answer, or the passage contains at least 50% of the
answer's n-grams. recall@k: share of questions with a match among the first k results;
MRR@10: mean of 1/rank of the first match within 10 (0 if none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.language import fold

_WORD = re.compile(r"[a-z0-9]+|[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]+")
THRESHOLD = 0.5


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text).lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def matches(passage: str, answer: str) -> bool:
    """Whether ``passage`` holds ``answer`` (or lies within it), by the 3-gram rule."""
    passage_words, answer_words = words(passage), words(answer)
    n = min(3, len(passage_words), len(answer_words))
    if n == 0:
        return False
    passage_grams, answer_grams = ngrams(passage_words, n), ngrams(answer_words, n)
    shared = len(passage_grams & answer_grams)
    return shared >= THRESHOLD * len(passage_grams) or shared >= THRESHOLD * len(answer_grams)


@dataclass(frozen=True, slots=True)
class Scores:
    questions: int
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "questions": self.questions,
            "recall@1": self.recall_at_1,
            "recall@5": self.recall_at_5,
            "mrr@10": self.mrr_at_10,
        }


def score(ranks: Sequence[int | None]) -> Scores:
    """Aggregate first-hit ranks (None: no hit within 10) into recall@1, recall@5, MRR@10."""
    total = len(ranks)
    if total == 0:
        return Scores(0, 0.0, 0.0, 0.0)
    return Scores(
        questions=total,
        recall_at_1=sum(1 for r in ranks if r is not None and r <= 1) / total,
        recall_at_5=sum(1 for r in ranks if r is not None and r <= 5) / total,
        mrr_at_10=sum(1.0 / r for r in ranks if r is not None and r <= 10) / total,
    )
