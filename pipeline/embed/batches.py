"""What the local backends (ONNX, bf16) share: their setup, one call's texts split in batches
over worker threads, a batch padded and its hidden states pooled; each backend brings its own
run of one batch."""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from pipeline.embed.base import check_vectors
from pipeline.embed.model_files import ModelSpec
from pipeline.embed.tokens import Tokens


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity, which containers narrow), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class BatchedEmbedder:
    """An :class:`~pipeline.embed.base.Embedder` whose subclass runs one batch of token ids
    (``_run``); texts come back in input order, and calls from several threads share the
    ``threads`` workers (default: every usable CPU). ``initializer(*initargs)`` runs once in
    each worker thread."""

    def __init__(
        self,
        model_name: str,
        spec: ModelSpec,
        tokens: Tokens,
        *,
        batch_size: int,
        threads: int | None,
        thread_name: str,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ):
        self.spec = spec
        self.model_name = model_name
        self.dimensions = spec.dimensions
        # the passage prompt (e5's "passage: ") is part of every embedded passage: chunks leave
        # room for it
        self.max_tokens = spec.max_seq_length - tokens.count(spec.passage_prompt)
        self.batch_size = batch_size
        self.threads = threads or usable_cpus()
        self._tokens = tokens
        self.tokens_add_up = tokens.add_up  # see pipeline.embed.base.tokens_add_up
        self._pad = tokens.pad_id
        self._workers = ThreadPoolExecutor(
            self.threads,
            thread_name_prefix=thread_name,
            initializer=_start_worker,
            initargs=(initializer, initargs),
        )
        self._lock = threading.Lock()
        self.calls = 0  # embed() calls so far (tests assert rejected input costs none)

    def count_tokens(self, text: str) -> int:
        return self._tokens.count(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.spec.passage_prompt)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, self.spec.query_prompt)

    def _embed(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            self.calls += 1
        encoded = self._tokens.encode([prompt + t for t in texts] if prompt else texts)
        if len(encoded) == 1:  # a query: no batches to spread
            out = self._run_one(encoded)
        else:
            out = embed_in_batches(
                encoded,
                self._run,
                workers=self._workers,
                batch_size=self.batch_size,
                threads=self.threads,
                dimensions=self.dimensions,
            )
        return check_vectors(
            out, expected=len(texts), dimensions=self.dimensions, model=self.model_name
        )

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        raise NotImplementedError

    def _run_one(self, ids: list[list[int]]) -> np.ndarray:
        """One text's run, on the calling thread."""
        return self._run(ids)


def _start_worker(initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    name_os_thread()
    if initializer is not None:
        initializer(*initargs)


def name_os_thread() -> None:
    """Give the calling thread's OS thread its Python name (``intaj-bf16_0``; the kernel keeps
    15 bytes), so ``top -H``, ``ps -L`` and ``/proc/PID/task/*/comm`` tell the embedding
    workers apart (the bench reads their CPU time there). Linux only; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        name = threading.current_thread().name.encode("utf-8", "replace")[:15]
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # 15: PR_SET_NAME


def embed_in_batches(
    encoded: list[list[int]],
    run: Callable[[list[list[int]]], np.ndarray],
    *,
    workers: ThreadPoolExecutor,
    batch_size: int,
    threads: int,
    dimensions: int,
) -> np.ndarray:
    """``run`` over batches of ``encoded`` on ``workers``; the vectors in input order. Longest
    first, so each batch pads to lengths close to its own and the batches that end a call are
    the cheap ones; batches shrink so that every worker gets some. A failed batch fails the
    call, and the batches not started yet are dropped."""
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    size = max(1, min(batch_size, math.ceil(len(order) / threads)))
    batches = [order[start : start + size] for start in range(0, len(order), size)]
    runs = [workers.submit(run, [encoded[i] for i in b]) for b in batches]
    out = np.empty((len(encoded), dimensions), dtype=np.float32)
    try:
        for batch, done in zip(batches, runs, strict=True):
            out[batch] = done.result()
    finally:
        for done in runs:
            done.cancel()
    return out


def padded(ids: list[list[int]], *, pad_id: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids padded to ``width`` with ``pad_id``, and their attention mask (int64)."""
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, tokens in enumerate(ids):
        input_ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return input_ids, mask


def pooled(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """One unit vector per row of ``hidden`` (batch, tokens, dimensions): its first token's
    state (``mode`` "cls") or the mean of its unmasked tokens' states ("mean"), in float32."""
    if mode == "cls":
        vectors = hidden[:, 0]
    else:
        weights = mask[:, :, None].astype(np.float32)
        vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return result
