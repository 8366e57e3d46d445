"""Distractor robustness: every eval set's pages (bench/data/python-faq, debian-faq, pg-docs)
ingested together with the quick real corpus (bench/corpus.py: PDF manuals, Python and
PostgreSQL tutorial pages, DOCX chapters) into ONE chatbot, and every question of every set
(dev and held-out) asked of it: a passage from an unrelated manual must not push the answer
out of the top 5. Ours (``intaj ingest``, then search as users do) and the idiomatic
LangChain pipeline, on the same files and questions, in the same run; scored by
bench/scoring.py.

    python -m bench.distractors            # writes bench/results/distractors.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from bench import child
from bench.corpus import corpus_files, ensure
from bench.generalize import SETS, pages, questions
from bench.ingest import LC_PYTHON, cli_ingest, ours_env
from bench.quality import evaluate
from bench.server import Server, server, sqlalchemy_url

BENCH = Path(__file__).resolve().parent
CHATBOT = "distractors"
R = TypeVar("R")


def all_questions() -> dict[str, dict[str, Any]]:
    rows = {}
    for name in SETS:
        for q in questions(name):
            rows[f"{name}/{q['id']}"] = {**q, "id": f"{name}/{q['id']}", "set": name}
    return rows


def files() -> list[Path]:
    """Every set's pages, then the quick corpus."""
    return [p for name in SETS for p in pages(name)] + corpus_files(ensure("quick"))


def chatbot(ctx: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The distractor chatbot in ctx's INTAJ_HOME (ingested the first time) and every question
    (ids ``set/id``), for ranking experiments that reuse one ingest (bench/centroid.py, prf.py)."""
    from bench.generalize import ensure_chatbot

    return ensure_chatbot(ctx, CHATBOT, files()), list(all_questions().values())


def experiment(
    ctx: Any, setting: str, ranks_of: Callable[[Any, Any, list[dict[str, Any]]], R]
) -> Iterator[tuple[str, R, list[str]]]:
    """A ranking experiment's (title, ranks, question ids) groups: ``setting`` "sets" runs
    ``ranks_of(ctx, chatbot, questions)`` on each set's own chatbot (dev and held-out split
    apart), "distractors" on the distractor chatbot (all questions, then each set's)."""
    from bench.generalize import ensure_chatbot, questions

    if setting == "sets":
        for name in SETS:
            asked = questions(name)
            ranks = ranks_of(ctx, ensure_chatbot(ctx, f"gen-{name}", pages(name)), asked)
            for split in ("dev", "heldout"):
                ids = [q["id"] for q in asked if (q["split"] == "dev") == (split == "dev")]
                yield f"{name} {split}", ranks, ids
        return
    bot, asked = chatbot(ctx)
    ranks = ranks_of(ctx, bot, asked)
    yield "all", ranks, [q["id"] for q in asked]
    for name in SETS:
        yield name, ranks, [q["id"] for q in asked if q["set"] == name]


def run(srv: Server, scratch: Path) -> dict[str, Any]:
    files_ = files()
    asked = all_questions()
    qfile = scratch / "questions.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in asked.values()), encoding="utf-8")

    url = srv.fresh_database("distractors_ours")
    ingested = cli_ingest(files_, url, scratch, chatbot=CHATBOT)
    argv = child.python_module("bench.workers.ours_quality", "--chatbot", CHATBOT,
                               "--questions", str(qfile))  # fmt: skip
    ours = (
        child.require_ok(
            child.run([*argv, "--out", "{out}"], env=ours_env(url, scratch)), "ours distractors"
        ).result
        or {}
    )
    srv.drop_database("distractors_ours")

    url = srv.fresh_database("distractors_lc")
    argv = [str(LC_PYTHON), "-m", "bench.workers.lc_pipeline", "quality", *map(str, files_)]
    argv += ["--questions", str(qfile), "--db", sqlalchemy_url(url), "--out", "{out}"]
    runs = {"ours_" + k: v for k, v in ours["results"].items()}
    try:  # a killed baseline (memory on a shared box) must not lose our half of the run
        lc = child.require_ok(child.run(argv), "langchain distractors").result or {}
        runs["langchain"] = lc["results"]
    except RuntimeError as e:
        lc = {"error": str(e)[-500:]}
    srv.drop_database("distractors_lc")

    scores: dict[str, Any] = {}
    for pipeline, results in runs.items():
        scores[pipeline] = {"all": evaluate(results, asked)}
        for name in SETS:
            subset = [r for r in results if asked[r["id"]]["set"] == name]
            scores[pipeline][name] = evaluate(subset, asked)
    lc_all = scores.get("langchain", {}).get("all", {"recall@5": float("nan")})
    gain = scores["ours_hybrid"]["all"]["recall@5"] - lc_all["recall@5"]
    return {
        "files": len(files_),
        "questions": len(asked),
        "chunks": {"ours": ingested["chunks"], "langchain": lc.get("chunks")},
        "langchain_error": lc.get("error"),
        "ours_failed_sources": ingested["failed"],
        "scores": scores,
        "recall@5_gain_points_over_langchain": 100 * gain,
        "target_gain_ge_10_points": gain >= 0.10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "distractors.json")
    args = parser.parse_args()
    with server() as srv, tempfile.TemporaryDirectory(prefix="intaj-bench-distract-") as tmp:
        result = run(srv, Path(tmp))
    child.dump(result, args.out)
    print(json.dumps(result["scores"], indent=2))


if __name__ == "__main__":
    main()
