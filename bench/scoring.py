"""The retrieval scoring rule of bench/data/python-faq/README.md, exactly; every eval set
(bench/data/*) is scored by it. The text rule itself lives in retrieval/scoring.py, which
``intaj eval`` uses too.

A retrieved chunk is a hit for a question when it comes from the question's page (same file
name) and, with texts lowercased and reduced to ``[a-z0-9]+`` words compared as sets of word
3-grams (n = min(3, words in the shorter text)), either at least 50% of the chunk's n-grams
occur in the gold answer, or the chunk contains at least 50% of the gold answer's n-grams.

recall@k: share of questions with a hit among the first k results; MRR@10: mean of 1/rank of
the first hit within 10 (0 if none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from retrieval.scoring import THRESHOLD, Scores, matches, ngrams, score, words

__all__ = [
    "THRESHOLD", "Retrieved", "Scores", "first_hit_rank", "is_hit", "ngrams", "same_file",
    "score", "words",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Retrieved:
    """One result: the file name it comes from, and its text."""

    file: str
    text: str


def same_file(a: str, b: str) -> bool:
    """Same file name, whatever folder each path names (``html/x.html`` is ``x.html``)."""
    return PurePosixPath(a).name == PurePosixPath(b).name


def is_hit(chunk: Retrieved, *, answer: str, source_file: str) -> bool:
    return same_file(chunk.file, source_file) and matches(chunk.text, answer)


def first_hit_rank(
    results: Sequence[Retrieved], *, answer: str, source_file: str, within: int = 10
) -> int | None:
    """1-based rank of the first hit among the first ``within`` results, or None."""
    for rank, chunk in enumerate(results[:within], start=1):
        if is_hit(chunk, answer=answer, source_file=source_file):
            return rank
    return None
