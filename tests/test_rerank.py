"""Cross-encoder reranking behind INTAJ_RERANK_MODEL: off by default, loaded from local files
only, and off (with a warning) when the model is not there.

No trained cross-encoder can be downloaded here, so the test builds a real (untrained)
CrossEncoder from the bundled MiniLM weights with a fresh scoring head and saves it to a
folder: it proves the plumbing (which candidates, in which order, what the hit carries), not
the quality a trained reranker would bring."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from psycopg_pool import ConnectionPool
from sentence_transformers import CrossEncoder

from core.settings import Settings
from pipeline.embed import Embedder
from pipeline.embed.local import bundled_model_path
from retrieval.search import search
from tests.knowledge import add_document, tenants

PASSAGES = [
    "Every bike rental includes a free helmet and a D-lock.",
    "Late returns cost 15 dollars for each hour after closing time.",
    "E-bikes must be charged for four hours before a full-day rental.",
    "Children's bikes come with a bell and training wheels on request.",
    "The Riverside shop opens at nine on weekdays and ten on Sundays.",
]


@pytest.fixture(scope="module")
def reranker_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reranker")
    base = bundled_model_path("all-MiniLM-L6-v2")
    assert base is not None
    torch.manual_seed(7)
    CrossEncoder(str(base), num_labels=1).save(str(path))
    return path


def test_reranking_is_off_by_default(settings: Settings) -> None:
    assert settings.rerank_model is None


def test_a_local_cross_encoder_orders_the_hits(
    pool: ConnectionPool, settings: Settings, embedder: Embedder, reranker_folder: Path
) -> None:
    query = "What do I get with a rental bike?"
    reranking = settings.model_copy(update={"rerank_model": str(reranker_folder)})
    with tenants(pool, "rerank") as (bot,):
        add_document(pool, embedder, bot, "shop.txt", PASSAGES)
        fused = search(pool, settings, chatbot=bot, query=query, k=5)
        reranked = search(pool, reranking, chatbot=bot, query=query, k=3)

    # The reranker's own scores, computed here independently of the search code.
    judge = CrossEncoder(str(reranker_folder))
    expected = judge.predict([(query, h.content) for h in fused]).tolist()
    ranked = sorted(zip(expected, fused, strict=True), key=lambda pair: -pair[0])
    best_three = [hit.content for _, hit in ranked][:3]

    assert best_three != [h.content for h in fused[:3]]  # the reranker changes the order here
    assert [h.content for h in reranked] == best_three
    for hit in reranked:
        assert hit.metadata["rerank_score"] == pytest.approx(
            expected[[h.content for h in fused].index(hit.content)], abs=1e-3
        )
        # the score stays the cosine similarity the answer thresholds are calibrated on
        assert hit.score == pytest.approx(next(f.score for f in fused if f.content == hit.content))


def test_a_reranker_that_is_not_available_locally_is_turned_off_with_a_warning(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = settings.model_copy(update={"rerank_model": str(tmp_path / "no-such-model")})
    query = "When does the Riverside shop open?"
    with tenants(pool, "rerank-missing") as (bot,):
        add_document(pool, embedder, bot, "shop.txt", PASSAGES)
        plain = search(pool, settings, chatbot=bot, query=query, k=3)
        with caplog.at_level(logging.WARNING, logger="retrieval.rerank"):
            hits = search(pool, missing, chatbot=bot, query=query, k=3)

    assert [h.chunk_id for h in hits] == [h.chunk_id for h in plain]
    assert "is not available locally" in caplog.text
    assert "INTAJ_RERANK_MODEL" in caplog.text
