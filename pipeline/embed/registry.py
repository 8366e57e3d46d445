"""Which embedder serves a configuration. One loaded model per (provider, model, device) per
process."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.errors import ConfigError
from core.settings import Settings
from pipeline.embed.base import Embedder


def _local(settings: Settings, model: str) -> Embedder:
    from pipeline.embed.local import LocalEmbedder

    return LocalEmbedder(
        model, device=settings.embedding_device, batch_size=settings.embedding_batch_size
    )


def _openai(settings: Settings, model: str) -> Embedder:
    from pipeline.embed.openai import OpenAIEmbedder

    return OpenAIEmbedder.from_settings(settings, model)


PROVIDERS: dict[str, Callable[[Settings, str], Embedder]] = {
    "local": _local,
    "openai": _openai,
}


def get_embedder(settings: Settings, model: str | None = None) -> Embedder:
    """The embedder for ``model`` (default: the configured one)."""
    return _cached(settings.embedding_provider, model or settings.embedding_model, settings)


_cache: dict[tuple[str, str, str], Embedder] = {}
_lock = threading.Lock()


def _cached(provider: str, model: str, settings: Settings) -> Embedder:
    key = (provider, model, settings.embedding_device)
    with _lock:
        if key in _cache:
            return _cache[key]
        factory = PROVIDERS.get(provider)
        if factory is None:
            raise ConfigError(
                f"unknown embedding provider {provider!r}; choose one of {sorted(PROVIDERS)}"
            )
        _cache[key] = factory(settings, model)
        return _cache[key]
