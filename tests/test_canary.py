"""K1 (reliability-test-plan §6.6): a canary API key never escapes.

Two canaries, one per kind of key the product holds:
- the tenant's: ``sk-canary-<uuid>`` stored as the chatbot's ``openai`` connection (sealed in
  ``connections.credentials``), used by the LLM that answers its messages;
- the operator's: ``OPENAI_API_KEY``, used by the ingestion's embedding requests.

Both are used for real against the local OpenAI-compatible servers: an ingestion, a failing
ingestion (401), answers, a failing answer (401) and a search. Both 401 replies quote the
presented key in full, as a careless server would. Then every sink is swept: API and CLI
output, captured logs and stdout/stderr, the exceptions raised, Prefect's flow runs (their
parameters and states), task runs, logs and artifacts, Prefect's result storage, and every
column of every table of the database but the ciphertext itself.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from core.crypto import keyring_for
from core.errors import EmbeddingError
from core.settings import Settings, get_settings
from db import chatbots as chatbots_db
from db import connections as connections_db
from db.chatbots import Chatbot
from intaj.http import create_app
from pipeline.embed import get_embedder
from tests.cli import intaj
from tests.fix_api import api_settings, bearer
from tests.servers.asgi import serving
from tests.servers.openai_compat import ChatServer, Fail, running_chat_server
from tests.servers.openai_embeddings import EmbeddingServer, Fault, running_embedding_server

TENANT_KEY = f"sk-canary-{uuid.uuid4()}"
OPERATOR_KEY = f"sk-canary-operator-{uuid.uuid4()}"
CANARIES = (TENANT_KEY, OPERATOR_KEY)
MODEL = "text-embedding-3-small@384"


@pytest.fixture(scope="module")
def embeddings() -> Iterator[EmbeddingServer]:
    with running_embedding_server() as s:
        yield s


@pytest.fixture(scope="module")
def llm() -> Iterator[ChatServer]:
    with running_chat_server() as s:
        yield s


@pytest.fixture
def k1_settings(embeddings: EmbeddingServer, prefect_server: None) -> Iterator[Settings]:
    """The process settings with the operator's canary as OPENAI_API_KEY."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_BASE_URL", embeddings.base_url)
        mp.setenv("OPENAI_API_KEY", OPERATOR_KEY)
        mp.setenv("INTAJ_OPENAI_MAX_RETRIES", "0")
        mp.setenv("INTAJ_OPENAI_TIMEOUT_SECONDS", "5")
        mp.setenv("INTAJ_ABSTAIN_THRESHOLD", "0")  # always ask the LLM
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()


def leaks(text: str) -> list[str]:
    return [canary for canary in CANARIES if canary in text]


def where(text: str) -> list[str]:
    """The text around each canary found (what the failure message shows)."""
    spots = []
    for canary in CANARIES:
        at = text.find(canary)
        while at >= 0 and len(spots) < 6:
            spots.append(text[max(0, at - 300) : at + len(canary) + 20])
            at = text.find(canary, at + 1)
    return spots


def database_text(pool: ConnectionPool) -> str:
    """Every row of every table as text; ``connections`` without its ciphertext column."""
    out = []
    with pool.connection() as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            row = sql.SQL("(to_jsonb(t) - 'credentials')::text" if table == "connections"
                          else "to_jsonb(t)::text")  # fmt: skip
            query = sql.SQL("SELECT {} FROM {}.{} t").format(
                row, sql.Identifier(schema), sql.Identifier(table)
            )
            out.extend(r[0] for r in conn.execute(query))
        assert tables  # the sweep saw the schema
    return "\n".join(out)


def prefect_text() -> str:
    """Prefect's records of this session: flow runs (parameters, states), task runs, logs and
    artifacts, read through its API."""
    from prefect.client.orchestration import get_client

    parts: list[str] = []
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(limit=200):
            parts += [json.dumps(run.parameters, default=str), repr(run.state)]
            if run.state is not None:
                parts.append(str(run.state.message))
        parts += [repr(t.state) for t in client.read_task_runs(limit=200)]
        parts += [log.message for log in client.read_logs(limit=200)]
        parts += [str(a.data) + str(a.description) for a in client.read_artifacts(limit=200)]
    assert parts
    return "\n".join(parts)


def files_text(*roots: Path) -> str:
    found = []
    for root in roots:
        if root.exists():
            found += [p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*")
                      if p.is_file() and p.stat().st_size < 50_000_000]  # fmt: skip
    return "\n".join(found)


def test_k1_canary_keys_never_escape(
    tmp_path: Path,
    pool: ConnectionPool,
    k1_settings: Settings,
    embeddings: EmbeddingServer,
    llm: ChatServer,
    make_chatbot: Callable[..., Chatbot],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    for ours in ("core", "db", "pipeline", "flows", "retrieval", "intaj"):
        caplog.set_level(logging.DEBUG, logger=ours)
    bot = make_chatbot(model="canary-model")
    with pool.connection() as conn:
        chatbots_db.set_embedding_model(conn, chatbot_id=bot.id, model=MODEL)
        connections_db.add(
            conn, user_id=bot.user_id, chatbot_id=bot.id, platform="openai",
            credentials={"api_key": TENANT_KEY, "base_url": llm.base_url},
            keyring=keyring_for(k1_settings),
        )  # fmt: skip
    seen: list[str] = []  # every reply and message a user or operator could read

    # An ingestion, then a failing one: the provider answers 401 quoting the key.
    good, bad = tmp_path / "hours.txt", tmp_path / "prices.txt"
    good.write_text("Northwind Bikes opens at nine and rents tandem bikes by the hour.\n")
    bad.write_text("A tandem costs twelve dollars an hour.\n")
    embeddings.reset()
    code, out = intaj("ingest", str(good), "--chatbot", bot.id, "--json")
    assert code == 0, out["sources"][0]["error"]
    embeddings.script(Fault.unauthorized())
    code, failed = intaj("ingest", str(bad), "--chatbot", bot.id, "--json")
    assert code == 1 and failed["sources"], (code, failed)
    assert failed["sources"][0]["status"] == "failed", (code, failed)
    seen += [json.dumps(out), json.dumps(failed)]

    # The same failure raised straight from the embedder: its message and whole traceback.
    embeddings.script(Fault.unauthorized())
    with pytest.raises(EmbeddingError) as info:
        get_embedder(k1_settings, MODEL).embed(["anything"])
    seen += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]

    # Answers over HTTP with the tenant's key, then the LLM refusing it (401 quoting it).
    with serving(create_app(api_settings(k1_settings), pool=pool)) as url:
        replies = [
            httpx.post(f"{url}/v1/chatbots/{bot.id}/messages", json={"message": m},
                       headers=bearer(bot.user_id), timeout=30)
            for m in ("When does Northwind Bikes open?",)
        ]  # fmt: skip
        llm.script(Fail(401, echo_key=True))
        replies.append(
            httpx.post(f"{url}/v1/chatbots/{bot.id}/messages", json={"message": "Tandem price?"},
                       headers=bearer(bot.user_id), timeout=30)
        )  # fmt: skip
        replies.append(
            httpx.post(f"{url}/v1/chatbots/{bot.id}/search", json={"query": "tandem"},
                       headers=bearer(bot.user_id), timeout=30)
        )  # fmt: skip
        llm.script()
    assert llm.requests[0]["headers"]["authorization"] == f"Bearer {TENANT_KEY}"  # it was used
    assert replies[0].status_code == 200
    seen += [f"{r.status_code} {r.headers} {r.text}" for r in replies]
    llm.script(Fail(401, echo_key=True))
    seen.append(str(intaj("ask", "--chatbot", bot.id, "Tandem price?", "--json")))
    llm.script()
    seen.append(str(intaj("connection", "list", "--chatbot", bot.id, "--json")))

    captured = capsys.readouterr()
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    sinks = {
        "replies and exceptions": "\n".join(seen),
        "logs": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "stdout/stderr": captured.out + captured.err,
        "prefect": prefect_text(),
        "prefect result storage": files_text(Path(str(PREFECT_LOCAL_STORAGE_PATH.value()))),
        "database": database_text(pool),
    }
    found = {name: where(text) for name, text in sinks.items() if leaks(text)}
    assert found == {}
    assert "Incorrect API key provided" in sinks["database"]  # the 401 was recorded, redacted
