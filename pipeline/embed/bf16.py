"""sentence-transformers models as TorchScript in bfloat16, for CPUs that multiply bfloat16 in
hardware (AMX: Intel Xeon 4th generation and later; AVX512-BF16: AMD Zen 4 and later).

The transformer is traced once (``torch.jit.trace`` of transformers' model loaded in bfloat16,
eager attention) and cached as ``<INTAJ_MODEL_CACHE>/<model-slug>/bf16.pt`` (built atomically
under a file lock, as the ONNX files are). Running it needs torch alone: not transformers or
sentence-transformers, whose imports cost 2.6 s more on the 2-core development machine.
Tokenizing is the ONNX backend's (``tokenizers``), and so are pooling and normalisation
(float32, ``pipeline/embed/batches.py``).

Measured on the 2-core development machine (Intel Xeon with AMX), the 450 python-faq dev
chunks: 285 chunks/s against ONNX Runtime fp32's 114 and sentence-transformers fp32's 63, and
vectors that agree with fp32 (cosine mean 0.99996, min 0.99991). So, like ONNX fp32, they keep
the model's name: chunks embedded by one backend are searched with queries of the other.
On the dev set our retrieval (hybrid, the default) scores as with fp32: recall@1 0.809, @5 0.978,
MRR@10 0.876 against 0.874; pure vector search (``bench.onnx_check``) keeps recall@5 (0.978)
and loses two of 89 questions at rank 1 (0.775 against 0.798: near-ties flipped). On a CPU
with AVX512-BF16 and no AMX (AMD EPYC Zen 4, 2 cores, 2026-12-05) it encodes those chunks at 121
chunks/s against ONNX fp32's 64 and torch fp32's 31, with the same agreement (cosine mean
0.99996) and the same recall as fp32. Where the CPU has neither, bfloat16 is emulated and slower
than fp32: ``INTAJ_EMBEDDING_BACKEND=auto`` (the default) picks this backend only where the CPU
reports ``amx_bf16`` or ``avx512_bf16`` (``Settings.native_bf16``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EmbeddingError
from pipeline.embed.batches import BatchedEmbedder, padded, pooled
from pipeline.embed.model_files import (
    ModelSpec,
    cached_file,
    model_fingerprint,
    model_folder,
    quiet_transformers,
    read_spec,
    traceable_transformer,
)
from pipeline.embed.tokens import Tokens

RECIPE = "bf16-1"  # bump when the trace recipe changes: cached files of other recipes are rebuilt
PAD_TO = 16
"""Runs pad their texts to a multiple of this many tokens. Each new input shape makes oneDNN
build (and keep) its kernels: padded to 16, the quick corpus's 723 chunks embed source by
source at 218 chunks/s in 500 MB of RSS; padded only to the longest text, 201 chunks/s in 978
MB. Padding is masked: vectors do not change."""
DEFAULT_BATCH = 4
"""Texts per run (one worker thread's work). Measured on the quick bench corpus's 723 chunks
(2 cores), embedded source by source as an ingestion does: batch 2 at 172 chunks/s, 4 at 214,
6 at 203, 16 at 145, 32 at 69."""


class Bf16Embedder(BatchedEmbedder):
    """The :class:`~pipeline.embed.base.Embedder` of a sentence-transformers model as bfloat16
    TorchScript. A single text (a query) runs on the calling thread, on every core."""

    def __init__(
        self,
        model_name: str,
        *,
        cache: Path,
        batch_size: int | None = None,
        threads: int | None = None,
    ):
        import torch

        name, path = model_folder(model_name, cache=cache)
        spec = read_spec(path)
        # Data parallel, as the ONNX backend: each worker runs its batches on one thread (set per
        # thread: this process's other torch runs keep theirs). With parse, chunk and store
        # taking turns on the cores during an ingestion, two single-threaded runs lose less than
        # one run split over both cores, whose threads wait for each other at every operator
        # (dev chunks alone: 285 chunks/s either way).
        super().__init__(
            name,
            spec,
            Tokens(path, spec.max_seq_length),
            batch_size=batch_size or DEFAULT_BATCH,
            threads=threads,
            thread_name="intaj-bf16",
            initializer=torch.set_num_threads,
            initargs=(1,),
        )
        slug = name.replace("/", "--")
        self._path = cached_file(
            cache / slug,
            "bf16.pt",
            # the trace is rebuilt when torch changes: its file format is torch's own
            fingerprint=model_fingerprint(path, recipe=f"{RECIPE};torch={torch.__version__}"),
            build=lambda out: _trace(spec, out),
        )
        self._torch = torch
        self._model = torch.jit.load(str(self._path)).eval()

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        torch = self._torch
        longest = max(len(row) for row in ids)
        width = min(-(-longest // PAD_TO) * PAD_TO, max(self.max_tokens, longest))
        input_ids, mask = padded(ids, pad_id=self._pad, width=width)
        try:
            with torch.inference_mode():
                ids_t = torch.from_numpy(input_ids)
                out = self._model(ids_t, torch.from_numpy(mask), torch.zeros_like(ids_t))
                hidden = out.float().numpy()
        except Exception as e:
            raise EmbeddingError(f"{self.model_name} (bf16 TorchScript) failed: {e}") from e
        return pooled(hidden, mask, self.spec.pooling)


def _trace(spec: ModelSpec, out: Path) -> None:
    """Trace the transformer in bfloat16 to ``out``. The example batch has a padded row, so
    the trace keeps the attention mask (a shortcut for unpadded batches would drop it)."""
    import torch

    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    # The tracer's warnings are about shapes taken from the inputs, which vary per run here.
    with quiet_transformers(), torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hidden = traceable_transformer(spec.path, dtype=torch.bfloat16)
        traced: Any = torch.jit.trace(hidden, (ids, mask, torch.zeros_like(ids)), check_trace=False)
    traced.save(str(out))
