"""Which embedder serves a configuration. One loaded model per (provider, model, device) per
process."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core import metrics
from core.errors import ConfigError
from core.settings import Settings
from db.chatbots import Chatbot
from pipeline.embed.base import Embedder


def engine_for(settings: Settings, model: str) -> str:
    """The engine a local ``model`` runs on: ``onnx`` (fp32, or int8 for a name ending in
    ``#onnx-int8`` or the ``onnx-int8`` backend), ``torch-bf16`` or ``torch``. The name decides
    the vectors (``...#onnx-int8``: ONNX int8); for a plain name the backend
    (:func:`local_backend`) picks the engine, all with the same vectors."""
    from pipeline.embed.onnx import split_variant

    backend = local_backend(settings)
    if split_variant(model)[1] or backend in ("onnx", "onnx-int8"):
        return "onnx"
    return backend


def _local(settings: Settings, model: str) -> Embedder:
    """The embedder of :func:`engine_for`'s engine."""
    from pipeline.embed.onnx import OnnxEmbedder

    engine = engine_for(settings, model)
    if engine == "onnx":
        return OnnxEmbedder(
            model,
            cache=settings.resolved_model_cache,
            batch_size=settings.embedding_batch_size,
            threads=settings.embedding_threads,
        )
    if engine == "torch-bf16":
        from pipeline.embed.bf16 import Bf16Embedder

        return Bf16Embedder(
            model,
            cache=settings.resolved_model_cache,
            batch_size=settings.embedding_batch_size,
            threads=settings.embedding_threads,
        )
    from pipeline.embed.local import LocalEmbedder

    return LocalEmbedder(
        model, device=settings.embedding_device, batch_size=settings.embedding_batch_size or 32
    )


def local_backend(settings: Settings) -> str:
    """The engine of a local model: ``INTAJ_EMBEDDING_BACKEND``, with ``auto`` resolved
    (bf16 TorchScript on a CPU that multiplies bfloat16 in hardware, ``Settings.native_bf16``,
    else ONNX Runtime fp32;
    a model named ``...#onnx-int8`` runs ONNX int8 whatever the backend). Off the CPU
    (``INTAJ_EMBEDDING_DEVICE=cuda``) always torch: the other engines run on the CPU."""
    if settings.embedding_device != "cpu":
        return "torch"
    if settings.embedding_backend == "auto":
        return "torch-bf16" if settings.native_bf16() else "onnx"
    return settings.embedding_backend


def _openai(settings: Settings, model: str) -> Embedder:
    from pipeline.embed.openai import OpenAIEmbedder

    embedder = OpenAIEmbedder.from_settings(settings, model)
    if settings.embedding_requests_per_minute:
        from pipeline.embed.ratelimit import TokenBucket

        embedder.limiter = TokenBucket(per_minute=settings.embedding_requests_per_minute)
    return embedder


PROVIDERS: dict[str, Callable[[Settings, str], Embedder]] = {
    "local": _local,
    "openai": _openai,
}


def get_embedder(settings: Settings, model: str | None = None) -> Embedder:
    """The embedder for ``model`` (default: the configured one); a local model's from the
    embedding service when :func:`embed_through` routed them there and it answers."""
    model = model or settings.embedding_model
    provider = provider_for(settings, model)
    through = _through
    if provider == "local" and through is not None:
        key = ("service", *_key(provider, model, settings))
        with _lock:
            found = _cache.get(key)
        if found is None:
            found = through(settings, model)
            if found is not None:
                with _lock:
                    _cache[key] = found
        if found is not None:
            return found
    return _cached(provider, model, settings)


_through: Callable[[Settings, str], Embedder | None] | None = None


def embed_through(service: Callable[[Settings, str], Embedder | None] | None) -> None:
    """Route local models through ``service`` (a query command's embedding service,
    ``pipeline/embed/service.py``: None when it cannot be reached) from now on in this
    process; None: embed here again."""
    global _through
    _through = service
    if service is None:  # the service's embedders hold connections: closed with the route
        with _lock:
            for key in [k for k in _cache if k[0] == "service"]:
                close = getattr(_cache.pop(key), "close", None)
                if close is not None:
                    close()


def model_of(chatbot: Chatbot, settings: Settings) -> str:
    """The embedding model a chatbot uses: its own (set by ``intaj reembed``), else the
    configured default (``INTAJ_EMBEDDING_MODEL``)."""
    return chatbot.embedding_model or settings.embedding_model


def embedder_of(chatbot: Chatbot, settings: Settings) -> Embedder:
    """The embedder of the chatbot's model (:func:`model_of`)."""
    return get_embedder(settings, model_of(chatbot, settings))


def provider_for(settings: Settings, model: str) -> str:
    """Which provider serves ``model``: OpenAI's own model names (``text-embedding-3-small``,
    ``...@384``) and the bundled local models always go to their provider, so a chatbot can move
    between them (``intaj reembed``); any other name goes to ``INTAJ_EMBEDDING_PROVIDER``."""
    from pipeline.embed.local import canonical_bundled
    from pipeline.embed.openai import KNOWN_DIMENSIONS

    if model.partition("@")[0] in KNOWN_DIMENSIONS:
        return "openai"
    if canonical_bundled(model.partition("#")[0]) is not None:
        return "local"
    return settings.embedding_provider


_cache: dict[tuple[object, ...], Embedder] = {}
_lock = threading.Lock()
_loads: list[str] = []  # the model of each embedder built in this process, in order


def loads() -> list[str]:
    """The models this process has loaded, once per load (a warm worker reports the count:
    one per model however many runs it serves)."""
    with _lock:
        return list(_loads)


def _key(provider: str, model: str, settings: Settings) -> tuple[object, ...]:
    """What makes two embedders differ: a local model's device and batch size; an OpenAI
    client's endpoint, budgets and batch limits."""
    if provider != "openai":
        return (
            provider,
            model,
            settings.embedding_device,
            settings.embedding_batch_size,
            settings.embedding_threads,
            settings.embedding_backend,
        )
    return (
        provider,
        model,
        settings.openai_base_url,
        settings.openai_max_retries,
        settings.openai_timeout_seconds,
        settings.openai_embedding_dimensions,
        settings.openai_batch_max_inputs,
        settings.openai_batch_max_tokens,
    )


def _cached(provider: str, model: str, settings: Settings) -> Embedder:
    key = _key(provider, model, settings)
    with _lock:
        if key in _cache:
            return _cache[key]
        factory = PROVIDERS.get(provider)
        if factory is None:
            raise ConfigError(
                f"unknown embedding provider {provider!r}; choose one of {sorted(PROVIDERS)}"
            )
        _cache[key] = factory(settings, model)
        _loads.append(_cache[key].model_name)
        metrics.model_loaded(_cache[key].model_name)
        return _cache[key]
