"""Chaos: real processes, real signals (issue 25). What must hold when something dies:

- the database's postmaster SIGKILLed under ``intaj ingest``: the command ends within a minute
  with exit code 1 and its JSON, one result per source and no traceback; the next command
  leaves no source ``processing``; a rerun reuses every source finished before the kill;
- ``intaj ingest`` itself SIGTERMed or SIGKILLed: none of its child processes (Prefect's
  temporary server, the parse sandbox's fork server) outlives it, checked by PID, and the next
  command closes its runs and frees its sources;
- ``intaj serve`` SIGKILLed while it streams an answer: the conversation has both turns or
  neither, never a question without its answer.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from core.crypto import keyring_for
from core.settings import Settings
from db import connections as connections_db
from db.connection import database_url, stop_embedded
from pipeline.embed import Embedder
from tests.fix_api import JWT_SECRET, bearer
from tests.fix_orchestration import free_port, intaj_cmd, process, wait_for
from tests.fix_pgserver import _owned_by_server_user, scratch
from tests.knowledge import add_document, tenants
from tests.servers.openai_compat import running_chat_server

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc for processes")

WORDS = [
    "refund", "policy", "shipping", "warranty", "customer", "order", "invoice", "payment",
    "support", "hours", "returns", "exchange", "battery", "charger", "screen", "keyboard",
    "delivery", "tracking", "parcel", "courier",
]  # fmt: skip


def corpus(folder: Path, files: int, paragraphs: int) -> list[str]:
    """``files`` text files of ``paragraphs`` distinct paragraphs each (nothing reusable)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(25)
    paths = []
    for i in range(files):
        text = "\n\n".join(
            " ".join(rng.choice(WORDS) for _ in range(60)) + "." for _ in range(paragraphs)
        )
        path = folder / f"doc{i:02d}.txt"
        path.write_text(text)
        paths.append(str(path))
    return paths


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's shell: no Prefect server configured (the CLI starts its temporary one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.pop("DATABASE_URL", None)
    env.update(INTAJ_HOME=str(home), HF_HUB_OFFLINE="1", **extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> Any:
    done = subprocess.run(intaj_cmd(*args), env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    try:
        return done.returncode, json.loads(done.stdout)
    except json.JSONDecodeError:
        return done.returncode, done.stdout + done.stderr


def statuses(url: str, chatbot: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.status, count(*) FROM data_sources s JOIN chatbots c ON c.id = s.chatbot_id"
            " WHERE c.name = %s GROUP BY s.status",
            (chatbot,),
        ).fetchall()
    return dict(rows)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, their children...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its new parent, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def home(embedder: Embedder) -> Iterator[Path]:
    """An INTAJ_HOME of its own whose embedded database the server user can reach; its server
    stopped afterwards. (``embedder``: the model's runtime file is built.)"""
    with scratch("intaj-chaos-") as folder:
        _owned_by_server_user(folder / "home")
        yield folder / "home"
        if (folder / "home" / "pgdata" / "postmaster.pid").exists():
            stop_embedded(folder / "home" / "pgdata")


def test_a_database_killed_mid_ingest_ends_the_command_within_a_minute(
    home: Path, tmp_path: Path
) -> None:
    env = cli_env(home)
    files = corpus(tmp_path / "docs", files=16, paragraphs=24)
    assert run(["db", "upgrade"], env)[0] == 0  # the embedded database, started
    url = database_url(Settings(home=home))
    ingest = subprocess.Popen(
        intaj_cmd("ingest", *files, "--chatbot", "chaos", "--json"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: statuses(url, "chaos").get("ready", 0) >= 1, timeout=120, every=0.2)
        before = statuses(url, "chaos")
        postmaster = int((home / "pgdata" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        killed = time.monotonic()
        out, err = ingest.communicate(timeout=60)
    finally:
        ingest.kill()
    took = time.monotonic() - killed
    assert ingest.returncode == 1, err[-2000:]
    assert took < 60
    results = json.loads(out)["sources"]
    assert len(results) == len(files)
    failed = [r for r in results if r["status"] == "failed"]
    assert failed and all("database" in r["error"] for r in failed)
    assert "Traceback" not in err, err[-2000:]  # quiet: no -v, no trace
    ready = len(results) - len(failed)
    assert ready >= before.get("ready", 0)

    code, listed = run(["source", "list", "--chatbot", "chaos", "--json"], env)
    assert code == 0 and "processing" not in {s["status"] for s in listed}

    code, again = run(["ingest", *files, "--chatbot", "chaos", "--json"], env)
    assert code == 0 and {r["status"] for r in again["sources"]} == {"ready"}
    reused = [r for r in again["sources"] if r["embedded"] == 0]
    assert len(reused) >= ready


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_ingest_leaves_no_process_and_no_open_run(
    sig: signal.Signals, settings: Settings, pool: ConnectionPool, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "home", DATABASE_URL=database_url(settings))
    files = corpus(tmp_path / "docs", files=12, paragraphs=24)
    name = f"killed-{sig.name.lower()}-{tmp_path.name[-6:]}"
    ingest = subprocess.Popen(
        intaj_cmd("ingest", *files, "--chatbot", name, "--json"),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = database_url(settings)
        wait_for(lambda: statuses(url, name).get("ready", 0) >= 1, timeout=120, every=0.2)
        children = descendants(ingest.pid)
        assert children, "the ingest started no server"
        ingest.send_signal(sig)
        ingest.wait(30)
    finally:
        ingest.kill()
    assert ingest.returncode == -sig or ingest.returncode == 128 + sig
    wait_for(lambda: not any(alive(p) for p in children), timeout=15)

    code, listed = run(["source", "list", "--chatbot", name, "--json"], env)
    assert code == 0 and "processing" not in {s["status"] for s in listed}
    with pool.connection() as conn:
        open_runs = conn.execute(
            "SELECT count(*) FROM ingestion_runs r JOIN chatbots c ON c.id = r.chatbot_id"
            " WHERE c.name = %s AND r.status = 'running'",
            (name,),
        ).fetchone()
        conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))
    assert open_runs == (0,)


def test_a_server_killed_mid_answer_keeps_both_turns_or_neither(
    settings: Settings, pool: ConnectionPool, embedder: Embedder, tmp_path: Path
) -> None:
    port = free_port()
    env = cli_env(tmp_path / "home", DATABASE_URL=database_url(settings),
                  INTAJ_JWT_SECRET=JWT_SECRET)  # fmt: skip
    with (
        running_chat_server() as llm,
        tenants(pool, "mid-answer", model="slow-model") as (bot,),
    ):
        add_document(pool, embedder, bot, "rentals.txt", [
            "Late returns cost 15 dollars per started half hour.",
            "Bikes are rented by the hour from 9 to 18.",
        ])  # fmt: skip
        with pool.connection() as conn:
            connections_db.add(
                conn, user_id=bot.user_id, chatbot_id=bot.id, platform="openai",
                credentials={"api_key": "sk-chaos", "base_url": llm.base_url},
                keyring=keyring_for(settings),
            )  # fmt: skip
        env["INTAJ_CREDENTIALS_KEY"] = (settings.home / "credentials.key").read_text().strip()
        llm.script("Late returns cost 15 dollars per started half hour [1]. " * 8)
        llm.pause = 0.3  # slow tokens: the kill lands mid-stream
        log = tmp_path / "serve.log"

        def ask(conversation: str) -> httpx.Response:
            with process(intaj_cmd("serve", "--port", str(port)), env, log) as serve:
                wait_for(lambda: _answers(port), timeout=90, every=0.2)
                with httpx.stream(
                    "POST", f"http://127.0.0.1:{port}/v1/chatbots/{bot.id}/messages",
                    json={"message": "How much do late returns cost?", "stream": True,
                          "conversation_id": conversation},
                    headers=bearer(bot.user_id), timeout=60,
                ) as reply:  # fmt: skip
                    for line in reply.iter_lines():
                        if line.startswith("event: delta"):
                            serve.kill()  # SIGKILL, mid-answer
                            break
                    return reply

        cut, whole = str(uuid.uuid4()), str(uuid.uuid4())
        ask(cut)
        llm.pause = 0.0
        with process(intaj_cmd("serve", "--port", str(port)), env, log):
            wait_for(lambda: _answers(port), timeout=90, every=0.2)
            done = httpx.post(
                f"http://127.0.0.1:{port}/v1/chatbots/{bot.id}/messages",
                json={"message": "How much do late returns cost?", "conversation_id": whole},
                headers=bearer(bot.user_id), timeout=60,
            )  # fmt: skip
        assert done.status_code == 200, done.text
        with pool.connection() as conn:
            turns: dict[str, list[str]] = dict(conn.execute(
                "SELECT conversation_id::text, array_agg(role ORDER BY created_at)"
                " FROM messages WHERE chatbot_id = %s GROUP BY conversation_id", (bot.id,),
            ).fetchall())  # fmt: skip
    assert turns.get(cut) is None, turns  # cut mid-stream: neither turn
    assert turns[whole] == ["user", "assistant"]


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
