"""Thresholds and weights calibrated per embedding model.

Similarity scores mean different things under different models: MiniLM's cosines spread over
0.1-0.9, e5's sit in a narrow high band (unrelated Arabic and English texts score 0.7 and
more), so a MiniLM threshold means nothing there. The settings' values (``INTAJ_ABSTAIN_
THRESHOLD``, ``INTAJ_SEARCH_TEXT_WEIGHT``, the FAQ thresholds) are MiniLM's, calibrated as
docs/retrieval.md describes; a model listed here has its own, calibrated the same way on its
own evaluation sets (``python -m bench.xquad``). ``search_sentence_weight`` also decides at
ingestion whether a model's chunks get sentence vectors. A value set explicitly (environment
or code) still wins for every model.
"""

from __future__ import annotations

from typing import Any

from core.settings import MULTILINGUAL_MODEL, Settings

PER_MODEL: dict[str, dict[str, Any]] = {
    # python -m bench.xquad (ranking, abstention; 2026-12-07) and bench.calibrate on an
    # e5 chatbot of the Python FAQ pages (FAQ thresholds): docs/retrieval.md has the tables.
    MULTILINGUAL_MODEL: {
        "search_text_weight": 0.02,
        "search_sentence_weight": 0.7,
        "abstain_threshold": 0.85,
        "abstain_coverage_weight": 0.15,
        "abstain_cross_language_threshold": 0.74,
        "passage_threshold": 0.74,
        "faq_direct_threshold": 0.93,
        "faq_top_threshold": 0.92,
        "faq_margin": 0.02,
    },
}


def embeds_sentences(settings: Settings, model: str) -> bool:
    """Whether an ingestion under ``model`` also embeds each chunk's sentences: the model
    ranks by sentence (its ``search_sentence_weight`` is above 0)."""
    return calibrated(settings, model).search_sentence_weight > 0


def calibrated(settings: Settings, model: str) -> Settings:
    """``settings`` with ``model``'s own calibrated values where they were not set explicitly."""
    own = {
        name: value
        for name, value in PER_MODEL.get(model, {}).items()
        if name not in settings.model_fields_set
    }
    return settings.model_copy(update=own) if own else settings
