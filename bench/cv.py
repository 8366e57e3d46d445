"""k-fold cross-validation of tuned retrieval parameters (pure functions; bench/generalize.py
feeds them the ranks and similarities it measured).

A parameter is chosen on k-1 folds and scored on the fold it never saw; the mean and spread
(population standard deviation) over the k held-out folds is what we report, next to the
score of the same choice on the whole dev set (what tuning on the set itself reports).
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.scoring import Scores, score

K = 5
METRICS = ("recall@1", "recall@5", "mrr@10")
C = TypeVar("C", bound=Hashable)


def fold_of(qid: str, k: int = K) -> int:
    """A question's fold: stable across runs and machines (hash of its id)."""
    return int(hashlib.sha256(qid.encode()).hexdigest(), 16) % k


def folds(ids: Sequence[str], k: int = K) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(k)]
    for qid in sorted(ids):
        out[fold_of(qid, k)].append(qid)
    return out


def scores_of(ranks: Mapping[str, int | None], ids: Sequence[str]) -> Scores:
    return score([ranks[q] for q in ids])


def objective(s: Scores) -> float:
    """What the ranking choice maximises: recall@5 first, MRR@10 to break near-ties."""
    return s.recall_at_5 + 0.5 * s.mrr_at_10


def choose(
    configs: Sequence[C], ranks: Mapping[C, Mapping[str, int | None]], ids: Sequence[str]
) -> C:
    """The config with the best objective on ``ids``; ties go to the earlier config."""
    best = configs[0]
    for c in configs[1:]:
        if objective(scores_of(ranks[c], ids)) > objective(scores_of(ranks[best], ids)) + 1e-9:
            best = c
    return best


@dataclass(frozen=True)
class Summary:
    mean: dict[str, float]
    spread: dict[str, float]
    per_fold: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.spread, "folds": self.per_fold}


def summarise(per_fold: list[dict[str, Any]], metrics: Sequence[str] = METRICS) -> Summary:
    mean = {m: statistics.fmean(f[m] for f in per_fold) for m in metrics}
    spread = {m: statistics.pstdev(f[m] for f in per_fold) for m in metrics}
    return Summary(mean, spread, per_fold)


def cross_validate_ranking(
    configs: Sequence[C], ranks: Mapping[C, Mapping[str, int | None]], ids: Sequence[str],
    *, k: int = K, label: Callable[[C], str] = str,
) -> Summary:  # fmt: skip
    """Choose a config on k-1 folds, score it on the held-out fold, for every fold."""
    rows = []
    for i, held in enumerate(folds(ids, k)):
        train = [q for q in ids if q not in set(held)]
        picked = choose(configs, ranks, train)
        rows.append(
            {"fold": i, "picked": label(picked), **scores_of(ranks[picked], held).as_dict()}
        )
    return summarise(rows)


def fixed(ranks: Mapping[str, int | None], ids: Sequence[str], *, k: int = K) -> Summary:
    """One config, untuned, scored fold by fold (its spread across the same folds)."""
    return summarise(
        [{"fold": i, **scores_of(ranks, held).as_dict()} for i, held in enumerate(folds(ids, k))]
    )


# --- abstention ------------------------------------------------------------------------------

THRESHOLDS = tuple(round(0.15 + 0.01 * i, 2) for i in range(81))  # 0.15 .. 0.95 (e5 sits high)
MAX_FALSE_ABSTENTION = 0.02  # on the training folds: leaves room for the unseen fold's 5%


def abstention_rates(
    confidence: Mapping[str, float], answerable: Mapping[str, bool], ids: Sequence[str], t: float
) -> dict[str, float]:
    ans = [q for q in ids if answerable[q]]
    neg = [q for q in ids if not answerable[q]]
    return {
        "threshold": t,
        "abstention": sum(confidence[q] < t for q in neg) / max(len(neg), 1),
        "false_abstention": sum(confidence[q] < t for q in ans) / max(len(ans), 1),
        "answerable": len(ans),
        "unanswerable": len(neg),
    }


def choose_threshold(
    confidence: Mapping[str, float], answerable: Mapping[str, bool], ids: Sequence[str]
) -> float:
    """The highest threshold whose false-abstention rate on ``ids`` stays within the limit."""
    rates = {t: abstention_rates(confidence, answerable, ids, t) for t in THRESHOLDS}
    ok = [t for t, r in rates.items() if r["false_abstention"] <= MAX_FALSE_ABSTENTION]
    return max(ok) if ok else THRESHOLDS[0]


def cross_validate_threshold(
    confidence: Mapping[str, float],
    answerable: Mapping[str, bool],
    ids: Sequence[str],
    *,
    k: int = K,
) -> Summary:
    rows = []
    for i, held in enumerate(folds(ids, k)):
        train = [q for q in ids if q not in set(held)]
        t = choose_threshold(confidence, answerable, train)
        rows.append({"fold": i, **abstention_rates(confidence, answerable, held, t)})
    return summarise(rows, ("threshold", "abstention", "false_abstention"))
