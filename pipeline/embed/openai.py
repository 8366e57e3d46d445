"""OpenAI embeddings (or any OpenAI-compatible server via ``OPENAI_BASE_URL``).

Batches are sized by an upper estimate of tokens, within the API's limits (2,048 inputs and
300,000 tokens a request; lower with ``INTAJ_OPENAI_BATCH_MAX_INPUTS``/``_MAX_TOKENS``). The
``openai`` client retries 408/409/429/5xx and timeouts with backoff and honours
``Retry-After``: a request makes at most ``INTAJ_OPENAI_MAX_RETRIES`` + 1 HTTP calls, each
bounded by ``INTAJ_OPENAI_TIMEOUT_SECONDS`` (the flow does not retry on top of that). Every
vector is checked for the expected dimension before it can be stored.

Model ids: ``text-embedding-3-small`` (its native dimension) or ``text-embedding-3-small@384``
(``dimensions=384`` sent with each request). The id, ``@`` included, is what is stored with every
vector, so the same model at two dimensions keeps two indexes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from core.crypto import redact
from core.errors import ConfigError, EmbeddingError
from core.settings import Settings
from pipeline.embed.base import check_vectors
from pipeline.embed.ratelimit import TokenBucket

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
    # Set by the registry when INTAJ_EMBEDDING_REQUESTS_PER_MINUTE is set: one token a request.
    limiter: TokenBucket | None = None

    def __init__(
        self,
        client: Any,
        model: str,
        dimensions: int,
        *,
        send_dimensions: bool,
        max_inputs: int = MAX_INPUTS,
        max_request_tokens: int = MAX_REQUEST_TOKENS,
    ):
        self._client = client
        self._max_inputs = max_inputs
        self._max_request_tokens = max_request_tokens
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
        model, _, suffix = model.partition("@")
        if suffix and not suffix.isdigit():
            raise ConfigError(f"{model}@{suffix}: the part after @ must be a dimension count")
        asked = int(suffix) if suffix else settings.openai_embedding_dimensions
        dims = asked or KNOWN_DIMENSIONS.get(model)
        if dims is None:
            raise ConfigError(
                f"unknown dimension for {model!r}: name it as {model}@DIMENSIONS or set"
                " INTAJ_OPENAI_EMBEDDING_DIMENSIONS"
            )
        client = openai.OpenAI(
            api_key=key or "unused",
            base_url=settings.openai_base_url,
            max_retries=settings.openai_max_retries,
            timeout=settings.openai_timeout_seconds,
        )
        return cls(
            client,
            model,
            dims,
            send_dimensions=asked is not None,
            max_inputs=settings.openai_batch_max_inputs,
            max_request_tokens=settings.openai_batch_max_tokens,
        )

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = [
            self._request([texts[i] for i in batch])
            for batch in token_batches(
                texts, max_tokens=self._max_request_tokens, max_inputs=self._max_inputs
            )
        ]
        return check_vectors(
            np.vstack(parts), expected=len(texts), dimensions=self.dimensions, model=self.model_name
        )

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """OpenAI's embedding models embed queries and passages alike."""
        return self.embed(texts)

    def _redact(self, text: str) -> str:
        return redact(text, getattr(self._client, "api_key", None))

    def _request(self, texts: list[str]) -> np.ndarray:
        import openai

        if self.limiter is not None:
            self.limiter.acquire()

        extra: dict[str, Any] = {"dimensions": self.dimensions} if self._send_dimensions else {}
        try:
            reply = self._client.embeddings.create(model=self._model, input=texts, **extra)
        # The provider's own message may quote the key we sent: it is redacted, and the
        # provider's exception is not chained (a traceback would print it whole).
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError) as e:
            raise EmbeddingError(
                f"embedding provider unavailable after retries: {self._redact(str(e))}; try"
                " again later",
                code="provider_unavailable",
                transient=True,
            ) from None
        except openai.APIStatusError as e:
            transient = e.status_code >= 500
            raise EmbeddingError(
                f"embedding provider refused the request ({e.status_code}):"
                f" {self._redact(e.message)}",
                code="provider_unavailable" if transient else "provider_error",
                transient=transient,
            ) from None
        data = sorted(reply.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise EmbeddingError(
                f"embedding provider returned {len(data)} vectors for {len(texts)} inputs",
                code="embedding_invalid",
            )
        wrong = next((len(d.embedding) for d in data if len(d.embedding) != self.dimensions), None)
        if wrong is not None:
            raise EmbeddingError(
                f"{self.model_name} returned {wrong}-dimension vectors, expected {self.dimensions};"
                " check the model id (MODEL@DIMENSIONS) and INTAJ_OPENAI_EMBEDDING_DIMENSIONS",
                code="embedding_invalid",
            )
        return check_vectors(
            np.array([d.embedding for d in data], dtype=np.float32),
            expected=len(texts),
            dimensions=self.dimensions,
            model=self.model_name,
        )
