"""Whether to answer: the FAQ that answers a message directly, and when to abstain (no FAQ
fits and the best passages are too far from the message). The thresholds are the settings',
calibrated per embedding model (``pipeline/embed/calibration.py``; docs/retrieval.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.settings import Settings
from core.types import Hit
from retrieval.language import detect


def faq_match(hits: Sequence[Hit], settings: Settings) -> Hit | None:
    """The FAQ that answers the message directly: one whose question is close to the message
    (``faq_direct_threshold``), or one clearly closer than any document passage
    (``faq_top_threshold`` and ``faq_margin``)."""
    faqs = [h for h in hits if h.is_faq]
    if not faqs:
        return None
    best = max(faqs, key=lambda h: h.score)
    if best.score >= settings.faq_direct_threshold:
        return best
    docs = max((h.score for h in hits if not h.is_faq), default=0.0)
    if best.score >= settings.faq_top_threshold and best.score - docs >= settings.faq_margin:
        return best
    return None


@dataclass(frozen=True)
class Verdict:
    """What the hits of one message decide, worked out once: the FAQ that answers it, else
    whether to abstain."""

    faq: Hit | None
    abstain: bool


def verdict(hits: Sequence[Hit], settings: Settings, language: str | None = None) -> Verdict:
    faq = faq_match(hits, settings)
    if faq is not None:
        return Verdict(faq, abstain=False)
    return Verdict(None, evidence(hits, settings) < abstain_threshold(hits, settings, language))


def abstains(hits: Sequence[Hit], settings: Settings, language: str | None = None) -> bool:
    """Whether the chatbot abstains on these hits: no FAQ answers directly, and the best hit's
    similarity is under ``abstain_threshold`` (calibrated in docs/retrieval.md), or under
    ``abstain_cross_language_threshold`` when the message (in ``language``) and that hit are in
    different languages (similarities across languages run lower, right and wrong hits alike)."""
    return verdict(hits, settings, language).abstain


def abstain_threshold(hits: Sequence[Hit], settings: Settings, language: str | None) -> float:
    """The threshold :func:`abstains` compares the best similarity with."""
    cross = settings.abstain_cross_language_threshold
    if cross is None or not hits or language is None:
        return settings.abstain_threshold
    found = detect(max(hits, key=lambda h: h.score).content)
    return cross if found is not None and found != language else settings.abstain_threshold


def confidence(hits: Sequence[Hit]) -> float:
    return round(max((h.score for h in hits), default=0.0), 4)


def evidence(hits: Sequence[Hit], settings: Settings) -> float:
    """What abstention compares with its threshold: the best of each hit's own vector's
    similarity (not mixed with its sentences': that spreads off-topic and answerable messages
    less apart) plus ``abstain_coverage_weight`` times its share of the message's words (0 for
    MiniLM; the multilingual model's own value: an off-topic question shares few words with
    the passages its vector lands near)."""
    weight = settings.abstain_coverage_weight
    best = max(
        ((h.score if h.chunk_score is None else h.chunk_score) + weight * h.coverage for h in hits),
        default=0.0,
    )
    return round(best, 4)
