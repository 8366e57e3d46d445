"""OpenAI embeddings through the real ``openai`` client against an OpenAI-compatible server on
127.0.0.1 (test plan §6.4, R5): Retry-After honoured, a bounded number of HTTP calls, bounded
timeouts, malformed replies refused, token-sized batches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from core.errors import EmbeddingError
from core.settings import Settings
from pipeline.embed.openai import OpenAIEmbedder, estimate_tokens
from pipeline.embed.registry import get_embedder, provider_for
from tests.servers.openai_embeddings import (
    EmbeddingServer,
    Fault,
    fake_vector,
    running_embedding_server,
)

MODEL = "text-embedding-3-small@384"


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddingServer]:
    with running_embedding_server() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(server: EmbeddingServer) -> None:
    server.reset()


def embedder(settings: Settings, server: EmbeddingServer, model: str = MODEL, **opts: Any):
    configured = settings.model_copy(
        update={
            "openai_base_url": server.base_url,
            "openai_api_key": SecretStr("sk-test"),
            "openai_max_retries": 2,
            "openai_timeout_seconds": 5.0,
            **opts,
        }
    )
    return OpenAIEmbedder.from_settings(configured, model)


def test_model_id_carries_the_requested_dimensions(
    settings: Settings, server: EmbeddingServer
) -> None:
    small = embedder(settings, server, MODEL)
    vectors = small.embed(["Helmets are cleaned after every rental."])
    assert (small.model_name, small.dimensions, vectors.shape) == (MODEL, 384, (1, 384))
    assert server.requests[-1].dimensions == 384
    native = embedder(settings, server, "text-embedding-3-small")
    assert (native.model_name, native.embed(["x"]).shape) == ("text-embedding-3-small", (1, 1536))
    assert server.requests[-1].dimensions is None
    np.testing.assert_allclose(
        vectors[0], fake_vector("Helmets are cleaned after every rental.", 384), atol=1e-6
    )


def test_openai_model_names_choose_the_openai_provider(settings: Settings) -> None:
    assert provider_for(settings, MODEL) == "openai"
    assert provider_for(settings, "text-embedding-3-large") == "openai"
    assert provider_for(settings, settings.embedding_model) == "local"


def test_retry_after_is_honoured(settings: Settings, server: EmbeddingServer) -> None:
    server.script(Fault.rate_limited(retry_after=1), Fault.rate_limited(retry_after=1))
    start = time.monotonic()
    vectors = embedder(settings, server, openai_max_retries=3).embed(["one", "two"])
    assert vectors.shape == (2, 384)
    assert server.calls == 3
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:], strict=False)]
    # The client's own backoff would wait 0.375-0.5 s, then 0.75-1 s; Retry-After says 1 s each.
    assert all(gap >= 0.95 for gap in gaps), gaps
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("retries", [0, 2])
def test_server_errors_stop_after_the_retry_budget(
    settings: Settings, server: EmbeddingServer, retries: int
) -> None:
    server.script(*[Fault.error(500)] * 10)
    with pytest.raises(EmbeddingError) as caught:
        embedder(settings, server, openai_max_retries=retries).embed(["anything"])
    assert server.calls == retries + 1
    assert (caught.value.code, caught.value.transient) == ("provider_unavailable", True)


def test_a_client_error_is_not_retried(settings: Settings, server: EmbeddingServer) -> None:
    server.script(Fault.error(400))
    with pytest.raises(EmbeddingError) as caught:
        embedder(settings, server).embed(["anything"])
    assert server.calls == 1
    assert (caught.value.code, caught.value.transient) == ("provider_error", False)


def test_a_hanging_server_is_cut_off_by_the_timeout(
    settings: Settings, server: EmbeddingServer
) -> None:
    server.script(Fault.hang(10), Fault.hang(10))
    start = time.monotonic()
    with pytest.raises(EmbeddingError) as caught:
        embedder(settings, server, openai_timeout_seconds=0.5, openai_max_retries=1).embed(["x"])
    elapsed = time.monotonic() - start
    assert server.calls == 2
    # Two 0.5 s attempts and one backoff (<= 0.5 s), nowhere near the server's 10 s.
    assert elapsed < 2.5, elapsed
    assert caught.value.code == "provider_unavailable"


@pytest.mark.parametrize("fault", [Fault.wrong_dimensions(383), Fault.short()], ids=str)
def test_malformed_replies_are_embedding_invalid(
    settings: Settings, server: EmbeddingServer, fault: Fault
) -> None:
    server.script(fault)
    with pytest.raises(EmbeddingError) as caught:
        embedder(settings, server).embed(["first text", "second text"])
    assert server.calls == 1  # never retried: the same request would get the same answer
    assert (caught.value.code, caught.value.transient) == ("embedding_invalid", False)


def test_batches_stay_within_the_token_and_input_limits(
    settings: Settings, server: EmbeddingServer
) -> None:
    texts = [f"Paragraph {i}: " + "the ferry leaves the harbour at nine. " * 8 for i in range(40)]
    per_text = estimate_tokens(texts[0])
    vectors = embedder(settings, server, openai_batch_max_tokens=per_text * 7).embed(texts)
    assert [len(r.inputs) for r in server.requests] == [7, 7, 7, 7, 7, 5]
    assert all(sum(map(estimate_tokens, r.inputs)) <= per_text * 7 for r in server.requests)
    assert [t for r in server.requests for t in r.inputs] == texts  # in order, each once
    np.testing.assert_allclose(vectors[13], fake_vector(texts[13], 384), atol=1e-6)
    server.reset()
    embedder(settings, server, openai_batch_max_inputs=16).embed(texts)
    assert [len(r.inputs) for r in server.requests] == [16, 16, 8]


def test_registry_builds_one_client_per_configuration(
    settings: Settings, server: EmbeddingServer
) -> None:
    configured = settings.model_copy(
        update={"openai_base_url": server.base_url, "openai_api_key": SecretStr("k")}
    )
    first = get_embedder(configured, MODEL)
    assert get_embedder(configured, MODEL) is first
    other = configured.model_copy(update={"openai_max_retries": 0})
    assert get_embedder(other, MODEL) is not first
