"""OpenAI embeddings (or any OpenAI-compatible server via ``OPENAI_BASE_URL``).

Batches are sized by an upper estimate of tokens, within the API's limits (2,048 inputs and
300,000 tokens a request). The ``openai`` client retries 408/409/429/5xx and timeouts with
backoff and honours ``Retry-After``; the number of attempts is ``INTAJ_OPENAI_MAX_RETRIES``.
Every vector is checked for the expected dimension before it can be stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from core.errors import ConfigError, EmbeddingError
from core.settings import Settings
from pipeline.embed.base import check_vectors

MAX_INPUTS = 2048
MAX_REQUEST_TOKENS = 300_000
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


def estimate_tokens(text: str) -> int:
    """An upper estimate of a text's tokens (no tokenizer download needed)."""
    return max(1, (len(text.encode("utf-8")) + 2) // 3)


def token_batches(texts: Sequence[str], *, max_tokens: int, max_inputs: int) -> Iterator[range]:
    """Index ranges of consecutive texts, each within both limits."""
    start, tokens = 0, 0
    for i, text in enumerate(texts):
        n = estimate_tokens(text)
        if i > start and (tokens + n > max_tokens or i - start >= max_inputs):
            yield range(start, i)
            start, tokens = i, 0
        tokens += n
    if start < len(texts):
        yield range(start, len(texts))


class OpenAIEmbedder:
    max_tokens = 8191

    def __init__(self, client: Any, model: str, dimensions: int, *, send_dimensions: bool):
        self._client = client
        self.model_name = model if not send_dimensions else f"{model}@{dimensions}"
        self._model = model
        self.dimensions = dimensions
        self._send_dimensions = send_dimensions

    @classmethod
    def from_settings(cls, settings: Settings, model: str) -> OpenAIEmbedder:
        import openai

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key and not settings.openai_base_url:
            raise ConfigError(
                "the openai embedding provider needs OPENAI_API_KEY (or OPENAI_BASE_URL for an"
                " OpenAI-compatible server)"
            )
        model = model.split("@", 1)[0]
        dims = settings.openai_embedding_dimensions or KNOWN_DIMENSIONS.get(model)
        if dims is None:
            raise ConfigError(
                f"unknown dimension for {model!r}: set INTAJ_OPENAI_EMBEDDING_DIMENSIONS"
            )
        client = openai.OpenAI(
            api_key=key or "unused",
            base_url=settings.openai_base_url,
            max_retries=settings.openai_max_retries,
            timeout=settings.openai_timeout_seconds,
        )
        return cls(
            client, model, dims, send_dimensions=settings.openai_embedding_dimensions is not None
        )

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = [
            self._request([texts[i] for i in batch])
            for batch in token_batches(texts, max_tokens=MAX_REQUEST_TOKENS, max_inputs=MAX_INPUTS)
        ]
        return check_vectors(
            np.vstack(parts), expected=len(texts), dimensions=self.dimensions, model=self.model_name
        )

    def _request(self, texts: list[str]) -> np.ndarray:
        import openai

        extra: dict[str, Any] = {"dimensions": self.dimensions} if self._send_dimensions else {}
        try:
            reply = self._client.embeddings.create(model=self._model, input=texts, **extra)
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError) as e:
            raise EmbeddingError(
                f"embedding provider unavailable after retries: {e}; try again later",
                code="provider_unavailable",
                transient=True,
            ) from e
        except openai.APIStatusError as e:
            transient = e.status_code >= 500
            raise EmbeddingError(
                f"embedding provider refused the request ({e.status_code}): {e.message}",
                code="provider_unavailable" if transient else "provider_error",
                transient=transient,
            ) from e
        data = sorted(reply.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise EmbeddingError(
                f"embedding provider returned {len(data)} vectors for {len(texts)} inputs",
                code="embedding_invalid",
            )
        return check_vectors(
            np.array([d.embedding for d in data], dtype=np.float32),
            expected=len(texts),
            dimensions=self.dimensions,
            model=self.model_name,
        )
