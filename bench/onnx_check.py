"""The ONNX and bf16 backends against torch on the Python-FAQ chunks: encode speed (chunks/s,
warm, same process, back to back, the same texts), agreement of the vectors with torch's (cosine
mean and min per chunk) and retrieval quality (recall@1/@5, MRR@10 under
bench/scoring.py; brute-force vector search over the same chunks, each backend embedding both
chunks and questions).

    python -m bench.onnx_check [--rounds 3] [--out bench/results/onnx_check.json]

On a shared machine read the ratios (each round times every backend back to back, in rotating
order), not the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.quality import DATA, QUESTIONS, load_questions
from bench.scoring import Retrieved, first_hit_rank, score
from core.settings import DEFAULT_MODEL, get_settings
from core.types import Document
from pipeline.chunk import ChunkSpec, chunk_document
from pipeline.embed.base import Embedder
from pipeline.parse import parse_document
from pipeline.parse.registry import ParseLimits

BENCH = Path(__file__).resolve().parent


def load_chunks(counter: Embedder) -> list[tuple[str, str, str]]:
    """(file name, stored content, embed text) of every chunk, as the chunking stage makes
    them (pipeline/stages/chunking.py)."""
    spec = ChunkSpec().fitted(counter.max_tokens)
    rows = []
    for page in sorted((DATA / "html").glob("*.html")):
        doc = Document(data=page.read_bytes(), name=page.name)
        parsed = parse_document(doc, limits=ParseLimits(sandbox=False))
        for chunk in chunk_document(parsed, count_tokens=counter.count_tokens, spec=spec):
            rows.append((page.name, chunk.content, chunk.embed_text))
    return rows


def backends(batch_size: int) -> dict[str, Embedder]:
    """Each local backend at ``--batch-size``, but torch-bf16 at its own default batch (4:
    bfloat16 runs are fastest in small batches, pipeline/embed/bf16.py)."""
    from pipeline.embed.bf16 import Bf16Embedder
    from pipeline.embed.local import LocalEmbedder
    from pipeline.embed.onnx import OnnxEmbedder

    cache = get_settings().resolved_model_cache
    return {
        "torch": LocalEmbedder(DEFAULT_MODEL, batch_size=batch_size),
        "onnx": OnnxEmbedder(DEFAULT_MODEL, cache=cache, batch_size=batch_size),
        "onnx-int8": OnnxEmbedder(DEFAULT_MODEL, cache=cache, int8=True, batch_size=batch_size),
        "torch-bf16": Bf16Embedder(DEFAULT_MODEL, cache=cache),
    }


def speed(models: dict[str, Embedder], texts: list[str], rounds: int) -> dict[str, Any]:
    """chunks/s per backend and per round; the ratio to torch is taken within each round."""
    for model in models.values():  # warm: sessions, kernels, allocator
        model.embed(texts[:64])
    names = list(models)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            models[name].embed(texts)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    return {
        name: {
            "chunks_per_s": statistics.median(rates[name]),
            "vs_torch": statistics.median(
                a / b for a, b in zip(rates[name], rates["torch"], strict=True)
            ),
            "rounds": [round(x, 2) for x in rates[name]],
        }
        for name in names
    }


def agreement(vectors: dict[str, np.ndarray]) -> dict[str, Any]:
    base = vectors["torch"]
    out = {}
    for name, other in vectors.items():
        if name == "torch":
            continue
        cos = (base * other).sum(axis=1)
        out[name] = {
            "cosine_mean": float(cos.mean()),
            "cosine_min": float(cos.min()),
            "below_0.99": int((cos < 0.99).sum()),
            "below_0.999": int((cos < 0.999).sum()),
        }
    return out


def quality(model: Embedder, chunk_vectors: np.ndarray, chunks: list[tuple[str, str, str]]) -> Any:
    questions = list(load_questions(QUESTIONS).values())
    query_vectors = model.embed_queries([q["question"] for q in questions])
    ranks = []
    for q, qv in zip(questions, query_vectors, strict=True):
        top = np.argsort(-(chunk_vectors @ qv))[:10]
        hits = [Retrieved(chunks[i][0], chunks[i][1]) for i in top]
        ranks.append(first_hit_rank(hits, answer=q["answer_text"], source_file=q["source_file"]))
    return score(ranks).as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "onnx_check.json")
    args = parser.parse_args()
    models = backends(args.batch_size)
    chunks = load_chunks(models["torch"])
    texts = [c[2] for c in chunks]
    vectors = {name: model.embed(texts) for name, model in models.items()}
    result = {
        "set": "python-faq (8 pages)",
        "chunks": len(texts),
        "batch_size": {name: getattr(model, "batch_size", None) for name, model in models.items()},
        "speed": speed(models, texts, args.rounds),
        "agreement_with_torch": agreement(vectors),
        "quality": {name: quality(models[name], vectors[name], chunks) for name in models},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
