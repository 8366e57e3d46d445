"""Ingestion benchmark: our pipeline against the idiomatic LangChain pipeline, same corpus,
same run, alternating (ours, langchain, langchain, ours, ...), each in its own child process
and its own fresh database.

Ours is measured as users run it, ``intaj ingest FILES --chatbot bench --json``, and per stage
from the ``ingestion_runs.timings`` it records. Then: the same command again over the unchanged
corpus (re-ingest: must embed 0), LangChain's indexing API (first run and re-run), and the
pure-encode limit on our chunks.

    python -m bench.ingest --quick [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from bench import child, corpus, machine
from bench.server import Server, server, sqlalchemy_url

BENCH = Path(__file__).resolve().parent
LC_PYTHON = BENCH / ".venv-langchain" / "bin" / "python"
STAGES = ("load", "parse", "chunk", "embed", "store")
PREFECT_SERVER_ENV = "BENCH_PREFECT_API_URL"
BACKEND_ENV = "INTAJ_EMBEDDING_BACKEND"  # children inherit it: ours, prepare, the encode limit


def _intaj() -> list[str]:
    script = Path(sys.executable).parent / "intaj"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from intaj.cli import main; main()"]


def ours_env(db_url: str, scratch: Path) -> dict[str, str]:
    env = {
        "DATABASE_URL": db_url,
        "INTAJ_HOME": str(scratch / "home"),
        "PREFECT_HOME": str(scratch / "prefect"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if os.environ.get(PREFECT_SERVER_ENV):  # --prefect-api-url: a long-running server
        env["PREFECT_API_URL"] = os.environ[PREFECT_SERVER_ENV]
    return env


def _db_now(db_url: str) -> Any:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def _recorded(db_url: str, since: Any) -> dict[str, Any]:
    """What the runs started since ``since`` recorded: summed stage timings and counts."""
    with psycopg.connect(db_url) as conn:
        runs = conn.execute(
            "SELECT status, chunks, embedded, reused, timings FROM ingestion_runs"
            " WHERE started_at >= %s",
            (since,),
        ).fetchall()
        span = conn.execute(
            "SELECT extract(epoch FROM min(started_at) - %s),"
            " extract(epoch FROM max(finished_at) - min(started_at))"
            " FROM ingestion_runs WHERE started_at >= %s",
            (since, since),
        ).fetchone()
        tokens = conn.execute("SELECT coalesce(sum(tokens), 0) FROM chunks").fetchone()
    stage_s = {s: sum(float(r[4].get(s, 0.0)) for r in runs) for s in STAGES}
    startup_s, span_s = (float(x or 0.0) for x in (span or (0.0, 0.0)))
    return {
        "until_first_run_s": startup_s,  # process start, imports, model, Prefect, registering
        "runs_span_s": span_s,  # first run's start to last run's end
        "per_source_overhead_s": (span_s - sum(stage_s.values())) / max(len(runs), 1),
        "runs": len(runs),
        "statuses": sorted({r[0] for r in runs}),
        "embedded_recorded": sum(r[2] for r in runs),
        "reused_recorded": sum(r[3] for r in runs),
        "stage_s": stage_s,
        "stages_total_s": sum(stage_s.values()),
        "tokens": int(tokens[0]) if tokens else 0,
    }


def cli_ingest(
    files: list[Path], db_url: str, scratch: Path, *, chatbot: str = "bench"
) -> dict[str, Any]:
    """``intaj ingest FILES --chatbot NAME --json`` in a child process, with what it recorded."""
    since = _db_now(db_url)
    argv = [*_intaj(), "ingest", *map(str, files), "--chatbot", chatbot, "--json"]
    dbname = psycopg.conninfo.conninfo_to_dict(db_url).get("dbname")
    run = child.run(argv, env=ours_env(db_url, scratch), database=dbname)
    if run.returncode not in (0, 1):
        child.require_ok(run, "intaj ingest")
    printed = json.loads(run.stdout[run.stdout.index("{") :])
    sources = printed["sources"]
    out: dict[str, Any] = {
        "wall_s": run.wall_s,
        "exit_code": run.returncode,
        "peak_rss_mb": run.peak_rss_mb,
        "peak_tree_rss_mb": run.peak_tree_rss_mb,
        "cpu_s": run.cpu,
        "files": len(sources),
        "failed": [
            s["source"].rsplit("/", 1)[-1] + ": " + str(s["error"])
            for s in sources
            if s["status"] != "ready"
        ],
        "chunks": sum(s["chunks"] for s in sources),
        "per_file": {s["source"].rsplit("/", 1)[-1]: s["chunks"] for s in sources},
        "embedded": sum(s["embedded"] for s in sources),
        "reused": sum(s["reused"] for s in sources),
        **_recorded(db_url, since),
    }
    out["chunks_per_s"] = out["chunks"] / run.wall_s
    out["tokens_per_s"] = out["tokens"] / run.wall_s
    out["startup_and_overhead_s"] = run.wall_s - out["stages_total_s"]
    # The flow overlaps neighbouring sources' stages: stage seconds summed over sources exceed
    # the runs' span by what ran side by side (negative: time between stages instead).
    out["stage_overlap_s"] = out["stages_total_s"] - out["runs_span_s"]
    out["outside_runs_s"] = run.wall_s - out["runs_span_s"]  # startup before, exit after
    return out


def cli_prepare(db_url: str, scratch: Path) -> dict[str, Any]:
    """``intaj prepare`` in a child process: its wall time and what it printed."""
    run = child.run([*_intaj(), "prepare"], env=ours_env(db_url, scratch))
    child.require_ok(run, "intaj prepare")
    return {"wall_s": run.wall_s, "printed": run.stdout.strip().splitlines()}


def setup_model() -> dict[str, Any]:
    """scripts/setup's last steps (the model's runtime file and Prefect's database template in
    INTAJ_MODEL_CACHE, outside any INTAJ_HOME), in child processes: their wall time and what
    they printed."""
    out: dict[str, Any] = {"wall_s": 0.0, "printed": []}
    for module in ("pipeline.embed.runtime", "flows.startup"):
        run = child.run(child.python_module(module), env={"HF_HUB_OFFLINE": "1"})
        child.require_ok(run, f"python -m {module}")
        out["wall_s"] += run.wall_s
        out["printed"] += run.stdout.strip().splitlines()
    return out


def run_ours(files: list[Path], srv: Server, name: str, scratch: Path) -> dict[str, Any]:
    url = srv.fresh_database(name)
    first = cli_ingest(files, url, scratch)
    again = cli_ingest(files, url, scratch)
    stop_services(url, scratch)
    srv.drop_database(name)
    return {**first, "reingest": again}


def stop_services(db_url: str, scratch: Path) -> None:
    """``intaj db stop``: the flow service our ingest started in this home (it would otherwise
    idle on for INTAJ_FLOW_SERVICE_IDLE_SECONDS, taking CPU from the runs that follow; with
    DATABASE_URL set the command stops only the services)."""
    child.require_ok(child.run([*_intaj(), "db", "stop"], env=ours_env(db_url, scratch)), "db stop")


def run_langchain(mode: str, files: list[Path], srv: Server, name: str) -> dict[str, Any]:
    if not LC_PYTHON.exists():
        raise RuntimeError(f"{LC_PYTHON} is missing: see bench/README.md (LangChain baseline venv)")
    url = srv.fresh_database(name)
    argv = [str(LC_PYTHON), "-m", "bench.workers.lc_pipeline", mode, *map(str, files)]
    run = child.require_ok(
        child.run([*argv, "--db", sqlalchemy_url(url), "--out", "{out}"]), f"langchain {mode}"
    )
    srv.drop_database(name)
    result = dict(run.result or {})
    result.update(
        wall_s=run.wall_s, peak_rss_mb=run.peak_rss_mb, peak_tree_rss_mb=run.peak_tree_rss_mb
    )
    if "chunks" in result:
        result["chunks_per_s"] = result["chunks"] / run.wall_s
        result["tokens_per_s"] = result["tokens"] / run.wall_s
    return result


def run_encode_limit(files: list[Path], scratch: Path, *, torch: bool = True) -> dict[str, Any]:
    flags = [] if torch else ["--skip-torch"]
    argv = child.python_module(
        "bench.workers.ours_encode", *map(str, files), *flags, "--out", "{out}"
    )
    run = child.require_ok(child.run(argv, env={"INTAJ_HOME": str(scratch / "enc")}), "encode")
    return {**(run.result or {}), "wall_s": run.wall_s, "peak_rss_mb": run.peak_rss_mb}


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    ours, lc = result["ours"], result["langchain"]
    torch_enc = result["encode_limit"].get("encode")  # None: skipped (--skip-torch-limit)
    # The limit of the backend our pipeline runs (older results: only torch's was measured).
    enc = result["encode_limit"].get("encode_backend") or torch_enc
    index = result.get("langchain_index")  # None: skipped (--skip-langchain-index)
    idx = {r["run"]: r for r in index["runs"]} if index else {}
    s: dict[str, Any] = {
        "ours_chunks_per_s": _median(ours, "chunks_per_s"),
        "ours_tokens_per_s": _median(ours, "tokens_per_s"),
        "ours_wall_s": _median(ours, "wall_s"),
        # first source's start to last source's end (stages overlap: not their summed time)
        "ours_flow_chunks_per_s": statistics.median(
            r["chunks"] / r["runs_span_s"] for r in ours if r["runs_span_s"]
        ),
        "langchain_chunks_per_s": _median(lc, "chunks_per_s"),
        "langchain_tokens_per_s": _median(lc, "tokens_per_s"),
        "langchain_wall_s": _median(lc, "wall_s"),
        "encode_chunks_per_s": enc["chunks_per_s"],
        "encode_backend": enc.get("backend", "torch"),
        "torch_encode_chunks_per_s": torch_enc["chunks_per_s"] if torch_enc else None,
        "ours_reingest_wall_s": statistics.median(r["reingest"]["wall_s"] for r in ours),
        "ours_reingest_embedded": max(r["reingest"]["embedded"] for r in ours),
        "langchain_reingest_wall_s": idx["reingest"]["wall_s"] if idx else None,
        "langchain_reingest_embedded": idx["reingest"]["embedded"] if idx else None,
        "langchain_index_first_wall_s": idx["first"]["wall_s"] if idx else None,
    }
    s["langchain_errors"] = [r["error"] for r in lc if r.get("error")]
    encoded = result["encode_limit"].get("per_file", {})
    s["chunk_count_mismatches"] = {
        name: {"cli": n, "stage_functions": encoded.get(name)}
        for name, n in ours[0].get("per_file", {}).items()
        if encoded.get(name) != n
    }
    s["ratio_chunks_per_s"] = s["ours_chunks_per_s"] / s["langchain_chunks_per_s"]
    s["ratio_tokens_per_s"] = s["ours_tokens_per_s"] / s["langchain_tokens_per_s"]
    s["speedup_same_corpus"] = s["langchain_wall_s"] / s["ours_wall_s"]
    s["fraction_of_encode"] = s["ours_chunks_per_s"] / enc["chunks_per_s"]
    s["fraction_of_torch_encode"] = (
        s["ours_chunks_per_s"] / torch_enc["chunks_per_s"] if torch_enc else None
    )
    s["flow_fraction_of_encode"] = s["ours_flow_chunks_per_s"] / enc["chunks_per_s"]
    s["reingest_speedup"] = s["ours_wall_s"] / s["ours_reingest_wall_s"]
    s["targets"] = {
        "first_ingest_ge_2.5x_langchain_chunks_per_s": s["ratio_chunks_per_s"] >= 2.5,
        "end_to_end_ge_0.85_of_encode": s["fraction_of_encode"] >= 0.85,
        "reingest_ge_50x_faster_and_0_embedded": s["reingest_speedup"] >= 50
        and s["ours_reingest_embedded"] == 0,
    }
    return s


def _order(rounds: int) -> list[str]:
    pairs = [("ours", "langchain"), ("langchain", "ours")]
    return [name for r in range(rounds) for name in pairs[r % 2]]


def run(
    corpus_name: str,
    *,
    rounds: int,
    srv: Server,
    langchain_index: bool = True,
    torch_limit: bool = True,
    fresh_home: bool = False,
) -> dict[str, Any]:
    """``rounds`` alternating pairs of first ingests (ours re-ingests after each), then
    LangChain's indexing API and the encode limits; ``langchain_index`` and ``torch_limit``
    False skip the two slowest baselines (on the large corpus, about 40 minutes).
    ``fresh_home``: no ``intaj prepare`` first, and each of our first ingests gets an empty
    ``INTAJ_HOME`` and ``PREFECT_HOME`` (a new user's first command: the model's runtime file
    and Prefect's database are built inside it)."""
    folder = corpus.ensure(corpus_name)
    files = corpus.corpus_files(folder)
    result: dict[str, Any] = {
        "prefect_api_url": os.environ.get(PREFECT_SERVER_ENV),  # None: a temporary server
        # the setting ours and the encode limit ran with ("auto": the machine's best)
        "embedding_backend": os.environ.get(BACKEND_ENV, "auto"),
        "corpus": corpus_name,
        "fresh_home": fresh_home,
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "order": [],
        "ours": [],
        "langchain": [],
    }
    with tempfile.TemporaryDirectory(prefix="intaj-bench-ours-") as tmp:
        scratch = Path(tmp)
        # A fresh machine's one-time work (the model's runtime file, Prefect's database), done
        # before the timed runs as users do it (`intaj prepare`); its time is reported apart.
        if fresh_home:  # a set-up machine: scripts/setup built the model's runtime file
            result["setup_model"] = setup_model()
        else:
            result["prepare"] = cli_prepare(srv.fresh_database("prepare"), scratch)
            srv.drop_database("prepare")
        for i, name in enumerate(_order(rounds)):
            result["order"].append(name)
            if name == "ours":
                home = scratch / f"ours_{i}" if fresh_home else scratch
                result["ours"].append(run_ours(files, srv, f"ours_{i}", home))
            else:
                result["langchain"].append(run_langchain("ingest", files, srv, f"lc_{i}"))
        result["langchain_index"] = (
            run_langchain("index", files, srv, "lc_index") if langchain_index else None
        )
        result["encode_limit"] = run_encode_limit(files, scratch, torch=torch_limit)
    result["summary"] = summarise(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Ingestion benchmark")
    parser.add_argument("--large", action="store_true", help="the large corpus (default quick)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="ours+langchain pairs")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "ingest.json")
    parser.add_argument(
        "--prefect-api-url",
        help="run ours against this long-running Prefect server (as in production) instead of"
        " the temporary one `intaj ingest` starts; write to another --out",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "torch", "torch-bf16", "onnx", "onnx-int8"),
        help="run ours and the encode limit with this INTAJ_EMBEDDING_BACKEND (default: the"
        " environment's, else auto); e.g. onnx on a CPU with AMX shows a CPU without it."
        " Write to another --out",
    )
    parser.add_argument(
        "--fresh-home",
        action="store_true",
        help="each of our first ingests from an empty INTAJ_HOME and PREFECT_HOME, without"
        " `intaj prepare` first (a new user's first command, whole process)",
    )
    parser.add_argument(
        "--skip-langchain-index",
        action="store_true",
        help="skip LangChain's indexing API (its first run and re-run; the re-ingest baseline)",
    )
    parser.add_argument(
        "--skip-torch-limit",
        action="store_true",
        help="skip the SentenceTransformer.encode limit (our backend's limit is still measured)",
    )
    args = parser.parse_args()
    if args.prefect_api_url:
        os.environ[PREFECT_SERVER_ENV] = args.prefect_api_url
    if args.backend:
        os.environ[BACKEND_ENV] = args.backend
    # the machine as the run starts (bench.run, when it runs this, replaces it with its own)
    described = machine.describe() | {"corpus": "large" if args.large else "quick"}
    with server() as srv:
        result = run(
            "large" if args.large else "quick",
            rounds=args.rounds,
            srv=srv,
            langchain_index=not args.skip_langchain_index,
            torch_limit=not args.skip_torch_limit,
            fresh_home=args.fresh_home,
        )
    result["machine"] = described
    child.dump(result, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
