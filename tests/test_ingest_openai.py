"""Ingestion with OpenAI embeddings end to end: `intaj ingest` -> the flow -> the real `openai`
client -> an OpenAI-compatible server on 127.0.0.1 that counts every call (test plan §6.4 R5,
R6, R8). Model ids are stored with every vector, models coexist, search uses the chatbot's
model, malformed replies write nothing, and unchanged content is never embedded twice."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import chatbots as chatbots_db
from db import chunks as chunks_db
from db.chatbots import Chatbot
from tests import fix_openai
from tests.cli import intaj
from tests.servers.openai_embeddings import EmbeddingServer, Fault

SMALL = "text-embedding-3-small@384"
VOCABULARY = (
    "bike rental helmet repair shop customer weekend policy deposit return late fee child seat"
    " battery charger route map harbour street ferry workshop brake cable tyre saddle frame lock"
    " insurance booking refund voucher staff opening hours season discount tour"
)

server = fix_openai.server
openai_settings = fix_openai.openai_settings


def handbook(paragraphs: int, seed: int = 7) -> list[str]:
    """Paragraphs of one to five sentences, the same for the same seed."""
    rng = random.Random(seed)
    words = VOCABULARY.split()

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize() + "."

    return [
        " ".join(sentence() for _ in range(rng.choice([1, 2, 2, 3, 4, 5])))
        for _ in range(paragraphs)
    ]


@pytest.fixture
def bot(
    make_chatbot: Callable[..., Chatbot], pool: ConnectionPool, openai_settings: Settings,
    server: EmbeddingServer,
) -> Chatbot:  # fmt: skip
    made = make_chatbot()
    with pool.connection() as conn:
        chatbots_db.set_embedding_model(conn, chatbot_id=made.id, model=SMALL)
    server.reset()
    return made


def chunk_rows(pool: ConnectionPool, chatbot_id: str) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT id, content_hash, embedding_model, vector_dims(embedding), metadata"
            " FROM chunks WHERE chatbot_id = %s ORDER BY source_id, ordinal",
            (chatbot_id,),
        ).fetchall()


def source_error(pool: ConnectionPool, chatbot_id: str) -> tuple[str, str]:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT error_code, error FROM data_sources WHERE chatbot_id = %s", (chatbot_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_every_vector_carries_the_model_id_and_search_uses_it(
    bot: Chatbot, pool: ConnectionPool, server: EmbeddingServer, tmp_path: Path
) -> None:
    doc = tmp_path / "handbook.txt"
    doc.write_text("\n\n".join(handbook(12)) + "\n\nThe night ferry carries bikes for free.\n")
    code, out = intaj("ingest", str(doc), "--chatbot", bot.name, "--json")
    assert code == 0, out
    rows = chunk_rows(pool, bot.id)
    assert {(r[2], r[3]) for r in rows} == {(SMALL, 384)}
    assert server.inputs == out["sources"][0]["embedded"] == len(rows)
    assert {r.dimensions for r in server.requests} == {384}
    server.reset()
    code, hits = intaj("search", "--chatbot", bot.name, "night ferry carries bikes", "--json")
    assert code == 0
    assert "night ferry carries bikes" in hits[0]["content"]
    assert [r.inputs for r in server.requests] == [["night ferry carries bikes"]]


def test_models_coexist_each_with_its_own_index(
    make_chatbot: Callable[..., Chatbot],
    pool: ConnectionPool,
    server: EmbeddingServer,
    openai_settings: Settings,
    tmp_path: Path,
) -> None:
    doc = tmp_path / "hours.txt"
    doc.write_text("The Riverside shop opens at nine and closes at six, Tuesday to Sunday.\n")
    models = [SMALL, "text-embedding-3-small", openai_settings.embedding_model]
    bots = [make_chatbot() for _ in models]
    for made, model in zip(bots, models, strict=True):
        with pool.connection() as conn:
            chatbots_db.set_embedding_model(conn, chatbot_id=made.id, model=model)
        code, out = intaj("ingest", str(doc), "--chatbot", made.name, "--json")
        assert code == 0, out
    with pool.connection() as conn:
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
    for made, model, dims in zip(bots, models, [384, 1536, 384], strict=True):
        assert {(r[2], r[3]) for r in chunk_rows(pool, made.id)} == {(model, dims)}
        assert chunks_db.index_name(model) in indexes
        server.reset()
        code, hits = intaj("search", "--chatbot", made.name, "When does Riverside open?", "--json")
        assert code == 0 and "opens at nine" in hits[0]["content"]
        assert server.calls == (0 if model == openai_settings.embedding_model else 1)


def test_wrong_dimensions_write_nothing_and_keep_the_old_chunks(
    bot: Chatbot, pool: ConnectionPool, server: EmbeddingServer, tmp_path: Path
) -> None:
    doc = tmp_path / "policy.txt"
    doc.write_text("\n\n".join(handbook(6, seed=1)))
    assert intaj("ingest", str(doc), "--chatbot", bot.name, "--json")[0] == 0
    before = chunk_rows(pool, bot.id)
    doc.write_text("\n\n".join(handbook(6, seed=2)))
    server.reset()
    server.script(Fault.wrong_dimensions(383))
    code, out = intaj("ingest", str(doc), "--chatbot", bot.name, "--json")
    assert code == 1 and out["sources"][0]["status"] == "failed"
    assert "383-dimension" in out["sources"][0]["error"]
    assert source_error(pool, bot.id)[0] == "embedding_invalid"
    assert server.calls == 1  # neither the client nor the flow retries a malformed reply
    assert chunk_rows(pool, bot.id) == before


def test_a_provider_outage_makes_exactly_the_budgeted_calls(
    bot: Chatbot, pool: ConnectionPool, server: EmbeddingServer, tmp_path: Path
) -> None:
    doc = tmp_path / "policy.txt"
    doc.write_text("\n\n".join(handbook(4, seed=3)))
    assert intaj("ingest", str(doc), "--chatbot", bot.name, "--json")[0] == 0
    before = chunk_rows(pool, bot.id)
    doc.write_text("\n\n".join(handbook(4, seed=4)))
    server.reset()
    server.script(*[Fault.error(503)] * 10)
    code, _ = intaj("ingest", str(doc), "--chatbot", bot.name, "--json")
    assert code == 1
    # INTAJ_OPENAI_MAX_RETRIES=1: two HTTP calls in all; the flow's task does not multiply them.
    assert server.calls == 2
    assert source_error(pool, bot.id)[0] == "provider_unavailable"
    assert chunk_rows(pool, bot.id) == before


def test_unchanged_content_is_never_embedded_twice(
    bot: Chatbot, pool: ConnectionPool, server: EmbeddingServer, tmp_path: Path
) -> None:
    paragraphs = handbook(80)
    doc = tmp_path / "handbook.txt"
    doc.write_text("\n\n".join(paragraphs))
    code, out = intaj("ingest", str(doc), "--chatbot", bot.name, "--json")
    total = out["sources"][0]["chunks"]
    assert code == 0 and total >= 50
    assert server.inputs == total

    server.reset()
    code, out = intaj("ingest", str(doc), "--chatbot", bot.name, "--json")
    assert (code, server.calls, out["sources"][0]["reused"]) == (0, 0, total)

    embedded = []
    for index in (0, 37, 79):  # first, middle and last paragraph, one edit at a time
        paragraphs[index] = paragraphs[index].replace(".", ", said the staff at the counter.", 1)
        doc.write_text("\n\n".join(paragraphs))
        server.reset()
        code, out = intaj("ingest", str(doc), "--chatbot", bot.name, "--json")
        assert code == 0
        embedded.append(server.inputs)
        assert out["sources"][0]["embedded"] == server.inputs
    assert all(1 <= n <= 3 for n in embedded), embedded
    rows = chunk_rows(pool, bot.id)
    assert len({r[1] for r in rows}) == len(rows) >= 50


def test_a_metadata_only_change_embeds_nothing(
    bot: Chatbot, pool: ConnectionPool, server: EmbeddingServer, tmp_path: Path
) -> None:
    body = "".join(f"<p>{p}</p>" for p in handbook(10, seed=5))
    page = tmp_path / "guide.html"
    page.write_text(f"<html><head><title>Guide 2025</title></head><body>{body}</body></html>")
    assert intaj("ingest", str(page), "--chatbot", bot.name, "--json")[0] == 0
    page.write_text(f"<html><head><title>Guide 2026</title></head><body>{body}</body></html>")
    server.reset()
    code, out = intaj("ingest", str(page), "--chatbot", bot.name, "--json")
    assert code == 0 and server.calls == 0
    assert out["sources"][0]["embedded"] == 0
    assert {r[4]["title"] for r in chunk_rows(pool, bot.id)} == {"Guide 2026"}
