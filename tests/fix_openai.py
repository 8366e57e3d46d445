"""Fixtures for tests that embed with OpenAI models: the OpenAI-compatible server on 127.0.0.1
and the process settings pointed at it (the flows and the CLI read ``get_settings()``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import Settings, get_settings
from tests.servers.openai_embeddings import EmbeddingServer, running_embedding_server


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddingServer]:
    with running_embedding_server() as s:
        yield s


@pytest.fixture(scope="module")
def openai_settings(server: EmbeddingServer, prefect_server: None) -> Iterator[Settings]:
    """OPENAI_BASE_URL at the local server; one retry (two HTTP calls) per request."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_BASE_URL", server.base_url)
        mp.setenv("OPENAI_API_KEY", "sk-test")
        mp.setenv("INTAJ_OPENAI_MAX_RETRIES", "1")
        mp.setenv("INTAJ_OPENAI_TIMEOUT_SECONDS", "5")
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()
