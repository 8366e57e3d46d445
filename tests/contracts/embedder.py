"""What every :class:`pipeline.embed.Embedder` does. A subclass provides the ``embedder``
fixture (class-scoped is best: models are slow to load)."""

from __future__ import annotations

import numpy as np

from pipeline.embed import Embedder

TEXTS = [
    "The cat sat on the mat by the door.",
    "Quarterly revenue grew by five percent in the northern region.",
    "Helmets are cleaned after every rental.",
]
RELATED = "A cat sat on a mat near the door."
UNRELATED = TEXTS[1]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = (a * b).sum(axis=1)
    return result


class EmbedderContract:
    # The least cosine between a text's vector alone and in a batch. A backend whose
    # arithmetic depends on the batch (dynamic int8 quantization scales activations per
    # batch) declares its own.
    batch_invariance = 0.999

    def test_it_declares_its_model_dimensions_and_token_limit(self, embedder: Embedder) -> None:
        assert isinstance(embedder.model_name, str) and embedder.model_name
        assert embedder.dimensions > 0 and embedder.max_tokens > 0

    def test_vectors_are_unit_float32_of_the_declared_shape(self, embedder: Embedder) -> None:
        vectors = embedder.embed(TEXTS)
        assert vectors.dtype == np.float32
        assert vectors.shape == (len(TEXTS), embedder.dimensions)
        assert np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    def test_vectors_come_back_in_input_order(self, embedder: Embedder) -> None:
        forward = embedder.embed(TEXTS)
        backward = embedder.embed(TEXTS[::-1])[::-1]
        assert _cosines(forward, backward).min() >= self.batch_invariance

    def test_a_text_embeds_the_same_alone_as_in_a_batch(self, embedder: Embedder) -> None:
        alone = np.vstack([embedder.embed([t]) for t in TEXTS])
        assert _cosines(alone, embedder.embed(TEXTS)).min() >= self.batch_invariance

    def test_a_batch_larger_than_one_call_keeps_every_text(self, embedder: Embedder) -> None:
        many = [f"Rental number {n} returned the {n % 7}th bike." for n in range(70)]
        vectors = embedder.embed(many)
        assert vectors.shape == (70, embedder.dimensions)
        again = embedder.embed([many[5], many[69]])
        assert _cosines(vectors[[5, 69]], again).min() >= self.batch_invariance

    def test_related_text_is_closer_than_unrelated(self, embedder: Embedder) -> None:
        cat, related, unrelated = embedder.embed([TEXTS[0], RELATED, UNRELATED])
        assert float(cat @ related) > float(cat @ unrelated) + 0.1

    def test_tokens_are_counted_more_for_more_text(self, embedder: Embedder) -> None:
        short = embedder.count_tokens("Helmets are cleaned.")
        longer = embedder.count_tokens("Helmets are cleaned after every rental, by hand.")
        assert 0 < short < longer

    def test_queries_are_unit_vectors_nearest_their_own_passage(self, embedder: Embedder) -> None:
        queries, passages = embedder.embed_queries(TEXTS), embedder.embed(TEXTS)
        assert queries.shape == (len(TEXTS), embedder.dimensions)
        np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-4)
        assert list((queries @ passages.T).argmax(axis=1)) == list(range(len(TEXTS)))
