"""bench/results/latest.md from the results JSON files: one table per benchmark, labelled with
the machine and date, and each target with where we stand."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.machine import label

RESULTS = Path(__file__).resolve().parent / "results"


def _f(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows
    ]
    return [*lines, ""]


def _ingest(r: dict[str, Any]) -> list[str]:
    s = r["summary"]
    ours, lc = r["ours"][0], r["langchain"][0]
    forced = r.get("embedding_backend", "auto")
    ran_rates = [
        x["tokens_embedded"] / x["wall_s"] for x in r["langchain"] if "tokens_embedded" in x
    ]
    ran = statistics.median(ran_rates) if ran_rates else None
    backend = "" if forced == "auto" else f", backend {forced}"
    out = [
        f"## Ingestion ({r['corpus']} corpus: {r['files']} files, {r['bytes'] / 1e6:.1f} MB"
        f"{backend})",
        "",
    ]
    index = (
        "LangChain indexing API" if r.get("langchain_index") else "(LangChain indexing API skipped)"
    )
    out.append(
        f"Order of runs: {', '.join(r['order'])}, then {index}, then encode limit. "
        "Medians over rounds; stage times of the first round."
    )
    if backend:
        out.append("")
        out.append(
            f"Ours and the encode limit ran with `INTAJ_EMBEDDING_BACKEND={forced}`"
            " (`--backend`), not the backend `auto` picks on this machine."
        )
    if r.get("prefect_api_url"):
        out.append("")
        out.append(
            f"Ours ran against a long-running Prefect server ({r['prefect_api_url']}, started"
            " before the run, as in production), not the temporary one `intaj ingest` starts."
        )
    if r.get("fresh_home"):
        out.append("")
        out.append(
            "Fresh home (`--fresh-home`): each of our first ingests started from an empty"
            " `INTAJ_HOME` and `PREFECT_HOME`, without `intaj prepare`: the model's runtime file"
            " and Prefect's database are built inside it, as in a new user's first command."
        )
    if "prepare" in r:
        out.append("")
        out.append(
            "Before the timed runs, the one-time work of a fresh machine (`intaj prepare`: the"
            " model's runtime file (ONNX export or bf16 trace), Prefect's database) took"
            f" {r['prepare']['wall_s']:.1f} s;"
            " it is not in the first ingest below, which is a new corpus on a set-up machine."
        )
    out.append("")
    stage = ours["stage_s"]
    t = lc["timings"]
    out += _table(
        ["", "ours (`intaj ingest`)", "LangChain", "ours / LangChain"],
        [
            [
                "wall clock, s (process start to exit)",
                s["ours_wall_s"],
                s["langchain_wall_s"],
                f"{s['ours_wall_s'] / s['langchain_wall_s']:.2f} (below 1: ours faster)",
            ],
            ["chunks", ours["chunks"], lc["chunks"], ""],
            [
                "chunks/s",
                s["ours_chunks_per_s"],
                s["langchain_chunks_per_s"],
                f"{s['ratio_chunks_per_s']:.2f}",
            ],
            ["model tokens", ours["tokens"], lc["tokens"], ""],
            [
                "tokens/s",
                s["ours_tokens_per_s"],
                s["langchain_tokens_per_s"],
                f"{s['ratio_tokens_per_s']:.2f}",
            ],
            [
                "tokens the model ran, /s (LangChain: a truncated chunk's up to the window)",
                s["ours_tokens_per_s"],  # ours: every token (no chunk over the window)
                ran,
                f"{s['ours_tokens_per_s'] / ran:.2f}" if ran else "",
            ],
            [
                "chunks over the 256-token window (truncated)",
                0,
                lc.get("chunks_truncated", "?"),
                "",
            ],
            ["load + parse, s", stage["load"] + stage["parse"], t["load_parse"], ""],
            ["chunk / split, s", stage["chunk"], t["split"], ""],
            ["model load, s", "(in startup)", t["model_load"], ""],
            ["embed, s", stage["embed"], t["embed"], ""],
            ["store, s", stage["store"], t["store"], ""],
            [
                "startup until the first source starts, s",
                ours.get("until_first_run_s", "?"),
                "",
                "",
            ],
            [
                "orchestration overhead per source, s",
                ours.get("per_source_overhead_s", "?"),
                "",
                "",
            ],
            [
                "stage time run side by side (stages summed minus the runs' span), s",
                ours.get("stage_overlap_s", "?"),
                "",
                "",
            ],
            [
                "outside the runs (startup before the first, exit after the last), s",
                ours.get("outside_runs_s", "?"),
                lc["wall_s"] - lc["pipeline_s"],
                "",
            ],
            ["peak RSS of the process, MB", ours["peak_rss_mb"], lc["peak_rss_mb"], ""],
            [
                "peak RSS of its process tree, MB",
                ours["peak_tree_rss_mb"],
                lc["peak_tree_rss_mb"],
                "",
            ],
            [
                "failed files",
                len(ours["failed"]),
                f"{lc.get('documents_with_nul', 0)} pages with NUL (stripped)",
                "",
            ],
        ],
    )
    enc = r["encode_limit"].get("encode") or {"chunks_per_s": "not run"}
    backend = r["encode_limit"].get("encode_backend") or {}
    torch_fraction = s.get("fraction_of_torch_encode", s["fraction_of_encode"])
    out += _table(
        ["encode limit (our chunks, after a warm-up)", "value"],
        [
            [
                f"our backend ({backend.get('backend', '?')}: the pipeline's embedder), chunks/s",
                backend.get("chunks_per_s", "?"),
            ],
            ["torch (SentenceTransformer.encode, batch 32), chunks/s", enc["chunks_per_s"]],
            ["ours end to end / our backend's limit", f"{s['fraction_of_encode']:.2f}"],
            [
                "ours end to end / torch limit",
                f"{torch_fraction:.2f}" if torch_fraction is not None else "not run",
            ],
            [
                "ours first source start to last source end / our backend's limit",
                f"{s['flow_fraction_of_encode']:.2f}",
            ],
        ],
    )
    out += _cpu(ours, r.get("machine", {}).get("cores"))
    not_run = {"wall_s": "not run", "embedded": "not run"}
    idx = (
        {x["run"]: x for x in r["langchain_index"]["runs"]}
        if r.get("langchain_index")
        else {"first": not_run, "reingest": not_run}
    )
    re_ours = ours["reingest"]
    lc_speedup = (
        f"{idx['first']['wall_s'] / idx['reingest']['wall_s']:.1f}×"
        if r.get("langchain_index")
        else "not run"
    )
    out += _table(
        [
            "re-ingest of the unchanged corpus",
            "ours",
            "LangChain index() (SQLRecordManager, incremental)",
        ],
        [
            ["first run, s", ours["wall_s"], idx["first"]["wall_s"]],
            ["re-run, s", re_ours["wall_s"], idx["reingest"]["wall_s"]],
            ["chunks embedded on the re-run", re_ours["embedded"], idx["reingest"]["embedded"]],
            ["re-run: stage time (load, hash check), s", re_ours["stages_total_s"], ""],
            [
                "re-run: startup until the first source, s",
                re_ours.get("until_first_run_s", "?"),
                "",
            ],
            ["re-run: overhead per source, s", re_ours.get("per_source_overhead_s", "?"), ""],
            [
                "speed-up first / re-run",
                f"{s['reingest_speedup']:.1f}×",
                lc_speedup,
            ],
        ],
    )
    if s.get("langchain_errors"):
        out += [f"LangChain failed: {e}" for e in s["langchain_errors"]] + [""]
    if s.get("chunk_count_mismatches"):
        out += [f"Chunk counts differ between the CLI and the stage functions: "
                f"{s['chunk_count_mismatches']}", ""]  # fmt: skip
    return out + _targets(s["targets"])


def _cpu(ours: dict[str, Any], cores: int | None) -> list[str]:
    """Where our first ingest's CPU time went (results from before 2026-12-01: not recorded)."""
    cpu = ours.get("cpu_s") or {}
    if "embed_threads_s" not in cpu:
        return []
    embed = cpu["embed_threads_s"]
    own_rest = cpu["process_s"] - embed
    server = cpu.get("prefect_server_s", 0.0)
    children = cpu.get("children_s", 0.0)
    database = cpu.get("database_s", 0.0)
    total = cpu["process_s"] + server + children + database
    rows: list[list[Any]] = [
        ["embedding workers (the model's runs)", embed],
        [
            "the rest of our process (imports, chunking, Prefect's client, database client)",
            own_rest,
        ],
        ["Prefect's temporary server", server],
        ["sandboxed parsers and other children", children],
        ["PostgreSQL backends (COPY, HNSW and full-text index updates, queries)", database],
        ["all", total],
        ["other work per embedding CPU second", f"{(total - embed) / embed:.2f}" if embed else "?"],
    ]
    if cores:
        rows.append([f"cores busy on average ({cores} cores)", total / ours["wall_s"]])
    return [
        *_table(["CPU time of our first ingest (first round), s", "value"], rows),
        "The embedding workers can reach the encode limit only while the other work leaves"
        " them the cores: with every core busy, the end-to-end rate is at most"
        " embedding / all of the encode limit.",
        "",
    ]


def _targets(targets: dict[str, bool]) -> list[str]:
    return [f"- target `{k}`: {'met' if v else '**not met**'}" for k, v in targets.items()] + [""]


def _search(r: dict[str, Any]) -> list[str]:
    out = [
        f"## Search ({r['chunks']:,} chunks, {r['chatbots']} chatbots,"
        " synthetic clustered vectors)",
        "",
    ]
    out.append(
        f"Build: COPY {r['build']['copy_s']:.1f} s, HNSW index {r['build']['index_s']:.1f} s."
    )
    out.append("")
    rows = []
    for key, value in r.items():
        if isinstance(value, dict) and "p95_ms" in value:
            scans = ", ".join(f"{k} {v}" for k, v in value.get("index_scans", {}).items())
            rows.append(
                [key, value["concurrency"], value["p50_ms"], value["p95_ms"], value["p99_ms"],
                 value["qps"], scans or "-"]
            )  # fmt: skip
    out += _table(
        ["what", "concurrency", "p50 ms", "p95 ms", "p99 ms", "queries/s", "index scans"], rows
    )
    out.append(
        f"recall@10 of vector search against exact search (chatbot filter): "
        f"{r['recall']['recall@10']:.3f} (min {r['recall']['min']:.2f},"
        f" {r['recall']['queries']} queries)"
    )
    out.append("")
    return out + _targets(r["targets"])


def _quality(r: dict[str, Any]) -> list[str]:
    out = [f"## Retrieval quality ({r['set']}, {r['questions']} questions)", ""]
    rows = [
        [name, f"{v['recall@1']:.3f}", f"{v['recall@5']:.3f}", f"{v['mrr@10']:.3f}"]
        for name, v in r["scores"].items()
    ]
    out += _table(["pipeline", "recall@1", "recall@5", "MRR@10"], rows)
    summary = r["summary"]
    delta = summary.get("hybrid_minus_vector_points", {})
    out.append(
        f"Chunks: ours {r['chunks']['ours']}, LangChain {r['chunks']['langchain']}. "
        "ours_hybrid is the default (BM25 full text + vector, weighted fusion);"
        " ours_hybrid_rrf fuses the same rankings by reciprocal rank."
        " recall@5 gain of hybrid over LangChain:"
        f" {summary.get('recall@5_gain_points_over_langchain', 0.0):+.1f} points; hybrid minus"
        " pure vector: " + ", ".join(f"{m} {v:+.1f}" for m, v in delta.items()) + " points."
    )
    out.append("")
    return out + _targets(r["summary"]["targets"])


# Each results file (bench/results/NAME.json) that exists, in this order. The -onnx ones come
# from `bench.ingest --backend onnx[-int8] --out ...` on a CPU whose auto backend is another;
# -fresh-home from `bench.ingest --fresh-home --out ...`.
SECTIONS = (
    ("ingest", _ingest),
    ("ingest-fresh-home", _ingest),
    ("ingest-large", _ingest),
    ("ingest-onnx", _ingest),
    ("ingest-large-onnx", _ingest),
    ("ingest-onnx-int8", _ingest),
    ("search", _search),
    ("quality", _quality),
)


def render(results: dict[str, dict[str, Any]], machine: dict[str, Any]) -> str:
    out = ["# Benchmark results", "", f"Machine: {label(machine)}", ""]
    if machine.get("noisy_note"):
        out += [f"> {machine['noisy_note']}", ""]
    for name, fn in SECTIONS:
        if name in results:
            section = fn(results[name])
            measured = results[name].get("machine", {})
            cpu = measured.get("cpu")
            flags = ", ".join(measured.get("cpu_flags") or []) or "none of avx2/avx512/amx"
            when = (
                f"Measured {measured.get('date', '?')}"
                + (f" on {measured.get('cores')} cores, {cpu} (CPU flags: {flags})" if cpu else "")
                + f", load average at start {measured.get('load_avg_at_start', '?')}."
            )
            out += [*section[:2], when, "", *section[2:]]
    return "\n".join(out)


def write(results_dir: Path = RESULTS) -> Path:
    results = {
        name: json.loads((results_dir / f"{name}.json").read_text(encoding="utf-8"))
        for name, _ in SECTIONS
        if (results_dir / f"{name}.json").exists()
    }
    machine = json.loads((results_dir / "machine.json").read_text(encoding="utf-8"))
    target = results_dir / "latest.md"
    target.write_text(render(results, machine) + "\n", encoding="utf-8")
    return target
