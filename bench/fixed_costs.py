"""The fixed cost of a CLI command (issue 29): what a person waits for on every small upload and
every question typed, whole process, medians of N runs.

    python -m bench.fixed_costs [-n 5] [--out bench/results/fixed-costs.json]

Measures, in a throwaway INTAJ_HOME (the model cache of the environment, built by set-up):

- where the seconds go: the interpreter, importing the CLI, Prefect's client and flow engine,
  torch, and loading the embedding model, each in a process of its own;
- ``intaj --help``;
- ``intaj ingest`` of a one-page text file in a new home (a new home per run: the database
  created, migrated and started; no flow service runs there yet, so the command starts
  Prefect's temporary server, its database copied from its template, runs the flow itself and
  starts the service as it ends) and in a home whose database and flow service already run
  (the file changed each run, so it is embedded); each also without the flow service
  (``INTAJ_FLOW_SERVICE=false``: every command starts Prefect's temporary server and runs the
  flow itself);
- ``intaj search`` and ``intaj ask`` (extractive) in that home, with the embedding service
  (the default) and without it (``INTAJ_EMBEDDING_SERVICE=false``: the model loaded by the
  command itself, as before the service existed).

Prints one JSON object with every run, the medians and the machine (CPU flags, load). Run it on
a quiet machine: the figures are the whole process's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import describe
from bench.trigger_latency import wait

INTAJ = str(Path(sys.executable).parent / "intaj")
PAGE = (
    "Northwind rents bikes from 9 to 18 every day. Late returns cost 15 dollars per started"
    " half hour. The warranty covers batteries for two years; chargers for one year.\n"
)
IMPORTS = {
    "interpreter": "pass",
    "the CLI (intaj.cli)": "import intaj.cli",
    "Prefect's flow engine": "import prefect, prefect.flow_engine, prefect.task_engine",
    "flows.ingest (Prefect + pipeline)": "import flows.ingest",
    "torch": "import torch",
}
LOAD_MODEL = (
    "from core.settings import get_settings; from pipeline.embed import get_embedder;"
    " get_embedder(get_settings()).embed_queries(['x'])"
)


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{args} failed ({done.returncode}): {(done.stdout + done.stderr)[-1500:]}"
        )
    return took


def runs(n: int, args: list[str], env: dict[str, str], before: Any = None) -> list[float]:
    found = []
    for i in range(n):
        if before is not None:
            before(i)
        found.append(round(timed(args, env), 3))
    return found


def summary(values: list[float]) -> dict[str, Any]:
    return {"runs": values, "median": round(statistics.median(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="runs per measure (default 5)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    n = args.n
    scratch = Path(tempfile.mkdtemp(prefix="intaj-fixed-"))
    os.chmod(scratch, 0o755)  # the embedded server's user must reach its data folder
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.pop("DATABASE_URL", None)
    base["HF_HUB_OFFLINE"] = "1"
    home = scratch / "home"
    env = {**base, "INTAJ_HOME": str(home)}
    page = scratch / "page.txt"
    result: dict[str, Any] = {"machine": describe(), "n": n}
    py = sys.executable
    try:
        result["imports"] = {
            name: summary(runs(n, [py, "-c", code], env)) for name, code in IMPORTS.items()
        }
        result["imports"]["loading the model (import + load + one query)"] = summary(
            runs(n, [py, "-c", LOAD_MODEL], env)
        )
        result["help"] = summary(runs(n, [INTAJ, "--help"], env))

        def fresh(i: int) -> None:
            page.write_text(PAGE + f"Run {i}.\n")

        fresh(-2)
        ingest = [INTAJ, "ingest", str(page), "--chatbot", "fixed"]
        for key, flow_service in (
            ("ingest_new_home", "true"),
            ("ingest_new_home_without_service", "false"),
        ):
            took = []
            for i in range(n):  # each new home's services stopped before the next starts
                new = {**base, "INTAJ_HOME": str(scratch / f"new-{key}-{i}"),
                       "INTAJ_FLOW_SERVICE": flow_service}  # fmt: skip
                took.append(round(timed(ingest, new), 3))
                subprocess.run([INTAJ, "db", "stop"], env=new, capture_output=True, timeout=120)
            result[key] = summary(took)
        fresh(-1)
        timed(ingest, env)  # the home, started: its database and flow service
        # that ingest ran its flow itself and started the service: ready before the timing
        wait(lambda: (home / "run" / "flows.json").exists(), 90)
        result["ingest_running_home"] = summary(runs(n, ingest, env, before=fresh))
        without = {**env, "INTAJ_FLOW_SERVICE": "false"}
        result["ingest_running_home_without_service"] = summary(
            runs(n, ingest, without, before=fresh)
        )
        search = [INTAJ, "search", "--chatbot", "fixed", "late returns", "-k", "3"]
        ask = [INTAJ, "ask", "--chatbot", "fixed", "How much do late returns cost?"]
        off = {**env, "INTAJ_EMBEDDING_SERVICE": "false"}
        result["search_without_service"] = summary(runs(n, search, off))
        result["ask_without_service"] = summary(runs(n, ask, off))
        result["first_search_starting_the_service"] = round(timed(search, env), 3)
        result["search"] = summary(runs(n, search, env))
        result["ask"] = summary(runs(n, ask, env))
    finally:
        subprocess.run([INTAJ, "db", "stop"], env=env, capture_output=True, timeout=120)
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
