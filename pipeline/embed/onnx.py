"""sentence-transformers models run through ONNX Runtime: about 2x torch's speed on CPU with
int8 weights.

The transformer is exported once, and for ``int8`` quantized (``onnx_export.py``), into the
model cache (``INTAJ_MODEL_CACHE``, default ``~/.cache/intaj/models``; ``model_files.py``);
the tokenizer is ``tokens.py``. Pooling (mean or CLS, read from the model's ``modules.json``)
and normalisation happen in numpy (``batches.py``).

Names. fp32 ONNX vectors equal torch's (cosine >= 0.9999): they keep the model's name and the two
backends are interchangeable. int8 vectors are close but not equal (python-faq chunks: cosine
mean 0.992, min 0.966, 47 of 353 below 0.99; retrieval unchanged), so they are recorded as
``<model>#onnx-int8``: moving a chatbot between int8 and the other backends is a re-embed
(``intaj reembed``), never a silent mix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EmbeddingError
from pipeline.embed.batches import BatchedEmbedder, padded, pooled
from pipeline.embed.model_files import model_folder, read_spec
from pipeline.embed.onnx_export import cached_model
from pipeline.embed.tokens import Tokens

INT8_SUFFIX = "#onnx-int8"


def split_variant(model: str) -> tuple[str, bool]:
    """``("sentence-transformers/all-MiniLM-L6-v2", True)`` for ``...#onnx-int8``."""
    if model.endswith(INT8_SUFFIX):
        return model[: -len(INT8_SUFFIX)], True
    return model, False


DEFAULT_BATCH = 4
"""Texts per ONNX run. Each run is one thread's work (below), and on one thread small batches
cost least: almost no padding, and a call's last batches finish close together. Measured on
the 2-core machine, quick corpus chunks, fp32: batch 4 at 42 chunks/s, 8 at 40, 32 at 32."""


class OnnxEmbedder(BatchedEmbedder):
    """The :class:`~pipeline.embed.base.Embedder` of a sentence-transformers model on ONNX
    Runtime. Results come back in input order.

    Data parallel: one session runs each batch on a single thread, and ``threads`` workers
    (default: every usable CPU) run batches side by side. On a 2-core machine this is 1.2x the
    speed of one run using both cores (fp32 42 against 35 chunks/s), keeps that speed for a
    call of a few texts (the batches shrink so that every worker gets some), and loses less
    when another stage takes a core: a run split over two cores waits for the slower one at
    every operator, a worker only slows down. Calls from several threads share the workers.
    """

    def __init__(
        self,
        model_name: str,
        *,
        cache: Path,
        int8: bool = False,
        batch_size: int | None = None,
        threads: int | None = None,
    ):
        base, suffixed = split_variant(model_name)
        int8 = int8 or suffixed
        name, path = model_folder(base, cache=cache)
        spec = read_spec(path)
        super().__init__(
            name + (INT8_SUFFIX if int8 else ""),
            spec,
            Tokens(path, spec.max_seq_length),
            batch_size=batch_size or DEFAULT_BATCH,
            threads=threads,
            thread_name="intaj-onnx",
        )
        slug = name.replace("/", "--")
        self._path = cached_model(spec, cache=cache, slug=slug, int8=int8)
        self._session = _session(self._path)
        self._wide: Any = None
        self._feeds = [i.name for i in self._session.get_inputs()]

    def _run_one(self, ids: list[list[int]]) -> np.ndarray:
        if self.threads == 1:
            return self._run(ids)
        return self._run(ids, session=self._one_run_session())

    def _one_run_session(self) -> Any:
        """A second session whose runs use every worker's core: one text (a search query) has
        no batches to spread, so here the run itself is split. Built on the first such call
        (a query process needs it; an ingestion seldom does)."""
        with self._lock:
            if self._wide is None:
                self._wide = _session(self._path, threads=self.threads)
            return self._wide

    def _run(self, ids: list[list[int]], session: Any = None) -> np.ndarray:
        input_ids, mask = padded(ids, pad_id=self._pad, width=max(len(row) for row in ids))
        arrays = {"input_ids": input_ids, "attention_mask": mask}
        arrays["token_type_ids"] = np.zeros_like(input_ids)
        try:
            hidden = (session or self._session).run(None, {k: arrays[k] for k in self._feeds})[0]
        except Exception as e:
            raise EmbeddingError(f"{self.model_name} (ONNX Runtime) failed: {e}") from e
        return pooled(hidden, mask, self.spec.pooling)


def _session(path: Path, threads: int = 1) -> Any:
    """A session whose runs use ``threads`` threads: by default each run stays on its calling
    thread (``OnnxEmbedder`` runs several at once, one per worker). ``run`` is thread safe."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
