"""Run the benchmarks and write bench/results/*.json and bench/results/latest.md.

    python -m bench.run --quick                 # quick corpus; aims at < 10 minutes
    python -m bench.run --large --rounds 2      # large corpus, two alternating rounds
    python -m bench.run --quick --only ingest,quality

One embedded PostgreSQL (or DATABASE_URL) serves the whole run; every measurement gets its own
fresh database on it. Each benchmark runs in its own child process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench import child, corpus, machine, report
from bench.server import server

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
BENCHES = ("ingest", "search", "quality")
NOISY = (
    "Numbers from a shared or busy machine are noisy; take final numbers on a quiet machine "
    "(load average near 0 before the run)."
)


def _argv(
    name: str, size: str, rounds: int, out: Path, search_args: list[str], ingest_args: list[str]
) -> list[str]:
    if name == "ingest":
        return child.python_module(
            "bench.ingest", f"--{size}", "--rounds", str(rounds), "--out", str(out), *ingest_args
        )
    if name == "search":
        return child.python_module("bench.search", *search_args, "--out", str(out))
    return child.python_module("bench.quality", "--out", str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="size")
    size.add_argument("--large", action="store_const", const="large", dest="size")
    parser.add_argument("--rounds", type=int, default=1, help="ours/LangChain ingest pairs")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset")
    parser.add_argument("--chatbots", type=int, default=100)
    parser.add_argument("--per-chatbot", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--fresh-home",
        action="store_true",
        help="ingest: our first ingests from an empty INTAJ_HOME, without `intaj prepare`",
    )
    args = parser.parse_args()
    chosen = [b for b in args.only.split(",") if b]
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {list(BENCHES)}")
    size_name = args.size or "quick"
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine.describe() | {"noisy_note": NOISY, "corpus": size_name}
    if "ingest" in chosen:
        corpus.ensure(size_name)  # fetching is not part of any measurement
    search_args = [
        "--chatbots",
        str(args.chatbots),
        "--per-chatbot",
        str(args.per_chatbot),
        "--queries",
        str(args.queries),
    ]
    took: dict[str, float] = {}
    with server() as srv:
        for name in chosen:
            # the large corpus's ingestion keeps a file of its own beside the quick one's
            large = name == "ingest" and size_name == "large"
            out = RESULTS / (f"{name}-large.json" if large else f"{name}.json")
            start = time.perf_counter()
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            run = child.run(
                _argv(
                    name,
                    size_name,
                    args.rounds,
                    out,
                    search_args,
                    ["--fresh-home"] if args.fresh_home else [],
                ),
                env={"DATABASE_URL": srv.url},
                timeout_s=3600,
            )
            took[name] = time.perf_counter() - start
            if run.returncode != 0:
                print(run.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"[bench] {name} failed (exit {run.returncode})")
            data = json.loads(out.read_text(encoding="utf-8"))
            data["machine"] = info
            child.dump(data, out)
            print(f"[bench] {name} done in {took[name]:.0f} s", file=sys.stderr, flush=True)
    info["bench_seconds"] = took
    child.dump(info, RESULTS / "machine.json")
    print(report.write(RESULTS))


if __name__ == "__main__":
    main()
