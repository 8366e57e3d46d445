"""Retrieval quality on the Python-FAQ dev set (bench/data/python-faq): recall@1, recall@5 and
MRR@10 under the rule in bench/scoring.py, for our pipeline (pure vector search; hybrid with the
default weighted fusion; hybrid with reciprocal rank fusion) and the idiomatic LangChain
pipeline (PGVector similarity, k=10), from the same run.

    python -m bench.quality
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench import child
from bench.ingest import LC_PYTHON, cli_ingest, ours_env
from bench.scoring import Retrieved, first_hit_rank, score
from bench.server import Server, server, sqlalchemy_url

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data" / "python-faq"
QUESTIONS = DATA / "qa_dev.jsonl"
CHATBOT = "python-faq"


def load_questions(path: Path = QUESTIONS) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {q["id"]: q for q in rows}


def evaluate(results: list[dict[str, Any]], questions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Score raw results ``[{"id", "hits": [{"file", "content"}]}]`` against the gold answers."""
    ranks = []
    for row in results:
        q = questions[row["id"]]
        hits = [Retrieved(h["file"], h["content"]) for h in row["hits"]]
        ranks.append(first_hit_rank(hits, answer=q["answer_text"], source_file=q["source_file"]))
    return score(ranks).as_dict()


def _pages() -> list[str]:
    return [str(p) for p in sorted((DATA / "html").glob("*.html"))]


def run_ours(srv: Server, scratch: Path) -> dict[str, Any]:
    """Ingest the pages as users do (``intaj ingest``), then search in a process of its own."""
    url = srv.fresh_database("quality_ours")
    ingested = cli_ingest([Path(p) for p in _pages()], url, scratch, chatbot=CHATBOT)
    argv = child.python_module(
        "bench.workers.ours_quality", "--chatbot", CHATBOT, "--questions", str(QUESTIONS)
    )
    run = child.require_ok(
        child.run([*argv, "--out", "{out}"], env=ours_env(url, scratch)), "ours quality"
    )
    srv.drop_database("quality_ours")
    return {**(run.result or {}), "chunks": ingested["chunks"], "failed": ingested["failed"]}


def run_langchain(srv: Server) -> dict[str, Any]:
    url = srv.fresh_database("quality_lc")
    argv = [str(LC_PYTHON), "-m", "bench.workers.lc_pipeline", "quality", *_pages()]
    argv += ["--questions", str(QUESTIONS), "--db", sqlalchemy_url(url), "--out", "{out}"]
    run = child.require_ok(child.run(argv), "langchain quality")
    srv.drop_database("quality_lc")
    return run.result or {}


def run(srv: Server) -> dict[str, Any]:
    questions = load_questions()
    with tempfile.TemporaryDirectory(prefix="intaj-bench-quality-") as tmp:
        ours = run_ours(srv, Path(tmp))
    lc = run_langchain(srv)
    scores = {
        "ours_vector": evaluate(ours["results"]["vector"], questions),
        "ours_hybrid": evaluate(ours["results"]["hybrid"], questions),
        "ours_hybrid_rrf": evaluate(ours["results"]["hybrid_rrf"], questions),
        "langchain_vector": evaluate(lc["results"], questions),
    }
    hybrid, vector = scores["ours_hybrid"], scores["ours_vector"]
    gain = hybrid["recall@5"] - scores["langchain_vector"]["recall@5"]
    return {
        "set": "python-faq dev",
        "questions": len(questions),
        "chunks": {"ours": ours["chunks"], "langchain": lc["chunks"]},
        "ours_failed_sources": ours["failed"],
        "scores": scores,
        "summary": {
            "recall@5_gain_points_over_langchain": 100 * gain,
            "hybrid_minus_vector_points": {
                m: 100 * (hybrid[m] - vector[m]) for m in ("recall@1", "recall@5", "mrr@10")
            },
            "targets": {
                "recall@5_ge_langchain_plus_10_points": gain >= 0.10,
                "hybrid_beats_vector_on_recall@5_and_mrr@10": hybrid["recall@5"]
                > vector["recall@5"]
                and hybrid["mrr@10"] > vector["mrr@10"],
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Retrieval quality benchmark")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "quality.json")
    args = parser.parse_args()
    with server() as srv:
        result = run(srv)
    child.dump(result, args.out)
    print(json.dumps(result["scores"], indent=2))


if __name__ == "__main__":
    main()
