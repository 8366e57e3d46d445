"""The embedding protocol and the checks every provider's output passes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from core.errors import EmbeddingError


class Embedder(Protocol):
    model_name: str
    dimensions: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``, passages to be searched (shape ``(len(texts), dimensions)``,
        normalised)."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` asked as search queries. Most models embed queries and passages
        alike; asymmetric ones (e5) prefix each with its own prompt."""
        ...

    def count_tokens(self, text: str) -> int: ...


def tokens_add_up(embedder: Embedder) -> bool:
    """Whether ``embedder.count_tokens(a + "\\n" + b)`` is always ``a``'s count plus ``b``'s. An
    optional capability: an embedder that can tell sets ``tokens_add_up`` (the local ONNX and
    bf16 backends, from the tokenizer's configuration); the others count whole texts."""
    return bool(getattr(embedder, "tokens_add_up", False))


def check_vectors(vectors: np.ndarray, *, expected: int, dimensions: int, model: str) -> np.ndarray:
    """Refuse output of the wrong shape or with non-finite values; normalise the rest."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != expected or array.shape[1] != dimensions:
        raise EmbeddingError(
            f"{model} returned vectors of shape {array.shape}, expected ({expected}, {dimensions});"
            " check the model and its dimensions setting",
            code="embedding_invalid",
        )
    if not np.isfinite(array).all():
        raise EmbeddingError(f"{model} returned non-finite values", code="embedding_invalid")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: np.ndarray = array / norms
    return normalised
