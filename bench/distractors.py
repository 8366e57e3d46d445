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
from pathlib import Path
from typing import Any

from bench import child
from bench.corpus import corpus_files, ensure
from bench.generalize import SETS, pages, questions
from bench.ingest import LC_PYTHON, cli_ingest, ours_env
from bench.quality import evaluate
from bench.server import Server, server, sqlalchemy_url

BENCH = Path(__file__).resolve().parent
CHATBOT = "distractors"


def all_questions() -> dict[str, dict[str, Any]]:
    rows = {}
    for name in SETS:
        for q in questions(name):
            rows[f"{name}/{q['id']}"] = {**q, "id": f"{name}/{q['id']}", "set": name}
    return rows


def run(srv: Server, scratch: Path) -> dict[str, Any]:
    files = [p for name in SETS for p in pages(name)] + corpus_files(ensure("quick"))
    asked = all_questions()
    qfile = scratch / "questions.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in asked.values()), encoding="utf-8")

    url = srv.fresh_database("distractors_ours")
    ingested = cli_ingest(files, url, scratch, chatbot=CHATBOT)
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
    argv = [str(LC_PYTHON), "-m", "bench.workers.lc_pipeline", "quality", *map(str, files)]
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
        "files": len(files),
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
