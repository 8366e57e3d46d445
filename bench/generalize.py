"""Retrieval quality that generalises: every eval set (bench/data/python-faq, debian-faq,
pg-docs), every tuned parameter cross-validated (bench/cv.py), abstention calibrated by
cross-validation and accepted on held-out questions.

    python -m bench.generalize                 # ingests each set once into gen-<set>
    python -m bench.generalize --out bench/results/generalize.json

Uses INTAJ_HOME / DATABASE_URL like the CLI (set INTAJ_HOME to a scratch folder). Each set is
ingested once with ``intaj ingest`` into a chatbot ``gen-<set>`` and kept: a rerun searches
the stored vectors again and embeds only the questions.

Questions per set: ``dev`` (tuned on, by 5-fold cross-validation) and ``heldout`` (never
tuned on: scored once with what the whole dev split chose). The Python-FAQ set has no held-out
split of ours (its own is kept back by its authors); its held-out questions are our 79
paraphrases of dev questions (bench/data/calibration/faq_paraphrases.jsonl), new wording for
the same answers. Unanswerable questions: bench/data/abstain/unanswerable.jsonl (off-topic,
asked of every set, and near-domain ones per set), split the same way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import cv

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
SETS = ("python-faq", "debian-faq", "pg-docs")
WEIGHTS = (0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)
Config = tuple[str, float]  # (fusion, text weight); ("vector", 0.0) is pure vector search
CONFIGS: tuple[Config, ...] = (
    ("weighted", 0.07),  # the default first: ties keep it
    ("vector", 0.0),
    *(("weighted", w) for w in WEIGHTS if w != 0.07),
    *(("rrf", w) for w in WEIGHTS),
)
DEFAULT: Config = ("weighted", 0.07)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def questions(name: str) -> list[dict[str, Any]]:
    """A set's answerable questions: ``{"id", "question", "answer_text", "source_file",
    "split"}``."""
    if name != "python-faq":
        return _jsonl(DATA / name / "qa.jsonl")
    dev = _jsonl(DATA / name / "qa_dev.jsonl")
    by_id = {q["id"]: q for q in dev}
    paraphrases = [
        {**by_id[p["id"]], "id": f"para-{p['id']}", "question": p["paraphrase"], "split": "heldout"}
        for p in _jsonl(DATA / "calibration" / "faq_paraphrases.jsonl")
    ]
    return [{**q, "split": "dev"} for q in dev] + paraphrases


def unanswerable(name: str) -> list[dict[str, Any]]:
    rows = _jsonl(DATA / "abstain" / "unanswerable.jsonl")
    return [r for r in rows if r["set"] in ("any", name)]


def pages(name: str) -> list[Path]:
    return sorted((DATA / name / "html").glob("*.html"))


def ensure_chatbot(ctx: Any, name: str, files: Sequence[Path]) -> Any:
    """The chatbot holding ``files``, ingested with ``intaj ingest`` the first time."""
    from core.errors import NotFoundError
    from intaj import services

    try:
        return services.chatbot(ctx, name)
    except NotFoundError:
        argv = [sys.executable, "-m", "intaj.cli", "ingest", *map(str, files), "--chatbot", name]
        subprocess.run([*argv, "--json"], check=True, stdout=subprocess.DEVNULL)
        return services.chatbot(ctx, name)


def measure(ctx: Any, bot: Any, asked: list[dict[str, Any]]) -> dict[str, Any]:
    """First-hit rank of every answerable question under every config, and every question's
    confidence (best passage similarity: what ``intaj ask`` compares to abstain_threshold)."""
    from bench.candidates import first_hit, source_names
    from retrieval.search import scope_of, search

    scope = scope_of(bot, ctx.settings)
    names = source_names(ctx, bot)
    vectors = scope.embedder.embed_queries([q["question"] for q in asked])
    ranks: dict[Config, dict[str, int | None]] = {c: {} for c in CONFIGS}
    confidence: dict[str, float] = {}
    for q, vector in zip(asked, vectors, strict=True):
        for fusion, weight in CONFIGS:
            mode = "vector" if fusion == "vector" else "hybrid"
            settings = ctx.settings.model_copy(update={
                "search_fusion": "weighted" if fusion == "vector" else fusion,
                "search_text_weight": weight,
            })  # fmt: skip
            hits = search(ctx.pool, settings, chatbot=bot, query=q["question"], k=10,
                          mode=mode, query_vector=vector)  # fmt: skip
            if (fusion, weight) == DEFAULT:
                confidence[q["id"]] = max((h.score for h in hits), default=0.0)
            if "answer_text" in q:
                ranks[(fusion, weight)][q["id"]] = first_hit(hits, q, names)
    from bench.sentwin import sentence_ranks

    sentwin = sentence_ranks(ctx, bot, asked, vectors, names)
    return {"ranks": ranks, "confidence": confidence, "sentwin": sentwin}


def label(c: Config) -> str:
    return "vector" if c[0] == "vector" else f"{c[0]} {c[1]}"


def ranking_report(
    ranks: dict[Config, dict[str, int | None]], qs: list[dict[str, Any]]
) -> dict[str, Any]:
    dev = [q["id"] for q in qs if q["split"] == "dev"]
    held = [q["id"] for q in qs if q["split"] == "heldout"]
    picked = cv.choose(CONFIGS, ranks, dev)
    return {
        "dev_questions": len(dev),
        "heldout_questions": len(held),
        "cv_tuned": cv.cross_validate_ranking(CONFIGS, ranks, dev, label=label).as_dict(),
        "cv_default": cv.fixed(ranks[DEFAULT], dev).as_dict(),
        "dev_default": cv.scores_of(ranks[DEFAULT], dev).as_dict(),
        "dev_picked": {"config": label(picked), **cv.scores_of(ranks[picked], dev).as_dict()},
        "heldout_default": cv.scores_of(ranks[DEFAULT], held).as_dict(),
        "heldout_picked": cv.scores_of(ranks[picked], held).as_dict(),
        "dev_all_configs": {label(c): cv.scores_of(ranks[c], dev).as_dict() for c in CONFIGS},
        "heldout_all_configs": {label(c): cv.scores_of(ranks[c], held).as_dict() for c in CONFIGS},
    }


def joint_report(
    pooled: dict[Config, dict[str, int | None]], split: dict[str, str]
) -> dict[str, Any]:
    """One setting for every chatbot: the config chosen on k-1 folds of all sets' dev
    questions together, scored per set on the held-out fold; then chosen on all dev
    questions and scored on each set's held-out split."""
    dev = [q for q in pooled[DEFAULT] if split[q] == "dev"]
    per_set: dict[str, list[dict[str, Any]]] = {s: [] for s in SETS}
    picks = []
    for i, held in enumerate(cv.folds(dev)):
        train = [q for q in dev if q not in set(held)]
        picked = cv.choose(CONFIGS, pooled, train)
        picks.append(label(picked))
        for s in SETS:
            ids = [q for q in held if q.startswith(s + "/")]
            per_set[s].append({"fold": i, "picked": label(picked),
                               **cv.scores_of(pooled[picked], ids).as_dict()})  # fmt: skip
    final = cv.choose(CONFIGS, pooled, dev)
    return {
        "picks": picks,
        "picked_on_all_dev": label(final),
        "cv": {s: cv.summarise(rows).as_dict() for s, rows in per_set.items()},
        "heldout_picked": {
            s: cv.scores_of(
                pooled[final],
                [q for q in pooled[final] if q.startswith(s + "/") and split[q] == "heldout"],
            ).as_dict()
            for s in SETS
        },
    }


def sentwin_report(
    ranks: dict[float, dict[str, int | None]], qs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Sentence-window rescoring (bench/sentwin.py): its weight chosen by cross-validation,
    against a = 0 (the default ranking) on the same folds."""
    from bench.sentwin import ALPHAS

    dev = [q["id"] for q in qs if q["split"] == "dev"]
    held = [q["id"] for q in qs if q["split"] == "heldout"]
    picked = cv.choose(ALPHAS, ranks, dev)
    return {
        "cv_tuned": cv.cross_validate_ranking(ALPHAS, ranks, dev).as_dict(),
        "cv_baseline": cv.fixed(ranks[0.0], dev).as_dict(),
        "dev_all": {str(a): cv.scores_of(ranks[a], dev).as_dict() for a in ALPHAS},
        "picked_on_dev": picked,
        "heldout_picked": cv.scores_of(ranks[picked], held).as_dict(),
        "heldout_baseline": cv.scores_of(ranks[0.0], held).as_dict(),
    }


def abstention_report(confidence: dict[str, float], answerable: dict[str, bool],
                      split: dict[str, str], sets: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    dev = [q for q in confidence if split[q] == "dev"]
    held = [q for q in confidence if split[q] == "heldout"]
    t = cv.choose_threshold(confidence, answerable, dev)
    per_set = {
        s: cv.abstention_rates(confidence, answerable, [q for q in held if sets[q] == s], t)
        for s in SETS
    }
    from core.settings import Settings

    shipped = Settings().abstain_threshold  # INTAJ_ABSTAIN_THRESHOLD, what `intaj ask` uses
    return {
        "cv": cv.cross_validate_threshold(confidence, answerable, dev).as_dict(),
        "threshold_from_dev": t,
        "shipped_threshold": shipped,
        "heldout_at_shipped": cv.abstention_rates(confidence, answerable, held, shipped),
        "dev": cv.abstention_rates(confidence, answerable, dev, t),
        "heldout": cv.abstention_rates(confidence, answerable, held, t),
        "heldout_per_set": per_set,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "generalize.json")
    args = parser.parse_args()
    from intaj import services

    ctx = services.context()
    result: dict[str, Any] = {"sets": {}}
    confidence: dict[str, float] = {}
    answerable: dict[str, bool] = {}
    split: dict[str, str] = {}
    sets: dict[str, str] = {}
    pooled: dict[Config, dict[str, int | None]] = {c: {} for c in CONFIGS}
    for name in SETS:
        bot = ensure_chatbot(ctx, f"gen-{name}", pages(name))
        qs, negs = questions(name), unanswerable(name)
        measured = measure(ctx, bot, qs + negs)
        result["sets"][name] = ranking_report(measured["ranks"], qs)
        result["sets"][name]["sentence_window"] = sentwin_report(measured["sentwin"], qs)
        for c in CONFIGS:
            pooled[c].update({f"{name}/{q}": r for q, r in measured["ranks"][c].items()})
        for q in qs + negs:
            key = f"{name}/{q['id']}"
            confidence[key] = measured["confidence"][q["id"]]
            answerable[key], split[key], sets[key] = "answer_text" in q, q["split"], name
        print(
            name,
            json.dumps({k: result["sets"][name][k] for k in ("cv_tuned", "heldout_default")})[:600],
        )
    result["joint"] = joint_report(pooled, split)
    result["ranks"] = {label(c): r for c, r in pooled.items()}
    result["abstention"] = abstention_report(confidence, answerable, split, sets)
    result["confidence"] = confidence
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(json.dumps(result["abstention"], indent=2)[:3000])


if __name__ == "__main__":
    main()
