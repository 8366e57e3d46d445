"""The retrieval scoring rule of bench/data/python-faq/README.md, exactly.

A retrieved chunk is a hit for a question when it comes from the question's page (same file
name) and, with texts lowercased and reduced to ``[a-z0-9]+`` words compared as sets of word
3-grams (n = min(3, words in the shorter text)), either at least 50% of the chunk's n-grams
occur in the gold answer, or the chunk contains at least 50% of the gold answer's n-grams.

recall@k: share of questions with a hit among the first k results; MRR@10: mean of 1/rank of
the first hit within 10 (0 if none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

_WORD = re.compile(r"[a-z0-9]+")
THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class Retrieved:
    """One result: the file name it comes from, and its text."""

    file: str
    text: str


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def same_file(a: str, b: str) -> bool:
    """Same file name, whatever folder each path names (``html/x.html`` is ``x.html``)."""
    return PurePosixPath(a).name == PurePosixPath(b).name


def is_hit(chunk: Retrieved, *, answer: str, source_file: str) -> bool:
    if not same_file(chunk.file, source_file):
        return False
    chunk_words, answer_words = words(chunk.text), words(answer)
    n = min(3, len(chunk_words), len(answer_words))
    if n == 0:
        return False
    chunk_grams, answer_grams = ngrams(chunk_words, n), ngrams(answer_words, n)
    shared = len(chunk_grams & answer_grams)
    return shared >= THRESHOLD * len(chunk_grams) or shared >= THRESHOLD * len(answer_grams)


def first_hit_rank(
    results: Sequence[Retrieved], *, answer: str, source_file: str, within: int = 10
) -> int | None:
    """1-based rank of the first hit among the first ``within`` results, or None."""
    for rank, chunk in enumerate(results[:within], start=1):
        if is_hit(chunk, answer=answer, source_file=source_file):
            return rank
    return None


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
