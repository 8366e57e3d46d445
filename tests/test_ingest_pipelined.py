"""The ``ingest-chatbot`` flow overlaps neighbouring sources (source N+1 is parsed and chunked
while N embeds, N-1 stored meanwhile). Overlapped or not, every source ends as a run of its
own would leave it: the same chunks in the same order, the same errors, one bad source failing
alone, and no content embedded twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.settings import DEFAULT_MODEL, Settings
from db import sources as sources_db
from db.chatbots import Chatbot
from pipeline.embed import Embedder
from pipeline.sources import storage_for, upload_key
from tests.conftest import EXAMPLES

DOCS = [
    EXAMPLES / "northwind-handbook.pdf",
    EXAMPLES / "northwind-policies.docx",
    EXAMPLES / "northwind-about.html",
]


def _add(pool: ConnectionPool, settings: Settings, bot: Chatbot, name: str, data: bytes) -> str:
    key = upload_key(bot.id, name)
    storage_for(key, settings).write(key, data)
    suffix = name.rsplit(".", 1)[-1]
    with pool.connection() as conn:
        return sources_db.add(
            conn, chatbot_id=bot.id, type=suffix, path=key, name=name, origin=f"/t/{name}"
        ).id


def _chunks(pool: ConnectionPool, source_id: str) -> list[tuple[Any, ...]]:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT ordinal, content, content_hash, tokens, metadata, embedding_model"
            " FROM chunks WHERE source_id = %s ORDER BY ordinal",
            (source_id,),
        ).fetchall()


def test_a_bad_source_inside_the_lookahead_fails_alone(
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Callable[..., Chatbot],
    prefect_server: None,
) -> None:
    """Five sources through the pipeline, a corrupt PDF and an empty file between good ones
    (each is parsed while its neighbour embeds): the bad ones fail with the error a lone run
    gives, the others are ready, results come back in order, and every good source holds the
    chunks a one-source run makes of the same file."""
    from flows.ingest import ingest_chatbot, ingest_data_source

    bot, alone = make_chatbot(), make_chatbot()
    corrupt = DOCS[0].read_bytes()[:900]
    names = ["handbook.pdf", "broken.pdf", "policies.docx", "empty.txt", "about.html"]
    data = [DOCS[0].read_bytes(), corrupt, DOCS[1].read_bytes(), b"", DOCS[2].read_bytes()]
    ids = [_add(pool, settings, bot, n, d) for n, d in zip(names, data, strict=True)]

    results = ingest_chatbot(bot.id, source_ids=ids)

    assert [r["source"].rsplit("/", 1)[-1] for r in results] == names
    assert [r["status"] for r in results] == ["ready", "failed", "ready", "failed", "ready"]
    for name, d, source_id, r in zip(names, data, ids, results, strict=True):
        lone = _add(pool, settings, alone, name, d)
        if r["status"] == "failed":
            with pytest.raises(Exception) as info:
                ingest_data_source(lone)
            assert r["error"] and r["error"] in str(info.value)
            with pool.connection() as conn:
                row = sources_db.get(conn, source_id=source_id)
            assert row is not None and row.status == "failed" and row.error == r["error"]
            continue
        ingest_data_source(lone)
        assert r["chunks"] == r["embedded"] > 0
        assert _chunks(pool, source_id) == _chunks(pool, lone)


def _task_runs(flow_run_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def test_each_source_is_a_task_run_of_the_flow(
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Callable[..., Chatbot],
    prefect_server: None,
) -> None:
    """Sources that ran on the pipeline's threads still report to the flow run in Prefect: one
    task run per source, named after it, Failed for the source that failed."""
    from flows.ingest import ingest_chatbot

    bot = make_chatbot()
    ids = [_add(pool, settings, bot, p.name, p.read_bytes()) for p in DOCS]
    ids.append(_add(pool, settings, bot, "broken.pdf", DOCS[0].read_bytes()[:900]))
    state = ingest_chatbot(bot.id, source_ids=ids, return_state=True)
    assert state.state_details.flow_run_id is not None

    runs = {r.name: r for r in _task_runs(state.state_details.flow_run_id)}

    assert sorted(runs) == sorted([*(p.name for p in DOCS), "broken.pdf"])
    assert all(runs[p.name].state.is_completed() for p in DOCS)
    assert runs["broken.pdf"].state.is_failed()


def test_an_upload_is_one_task_run_whose_stages_are_logged(
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Callable[..., Chatbot],
    prefect_server: None,
) -> None:
    """``ingest-data-source`` (each upload) records one task run, named after the file, not one
    per stage: the server's CPU per upload is what slows every other owner under a backlog.
    (Each stage still logs what it did, as in ``ingest-chatbot``: test_flow_names.py.) A
    failed upload fails its task run and its flow run."""
    from flows.ingest import ingest_data_source

    bot = make_chatbot()
    source_id = _add(pool, settings, bot, DOCS[2].name, DOCS[2].read_bytes())
    state = ingest_data_source(source_id, return_state=True)
    flow_run_id = state.state_details.flow_run_id
    assert state.is_completed() and flow_run_id is not None

    (run,) = _task_runs(flow_run_id)
    assert run.name == DOCS[2].name and run.state is not None and run.state.is_completed()

    broken = _add(pool, settings, bot, "broken.pdf", DOCS[0].read_bytes()[:900])
    failed = ingest_data_source(broken, return_state=True)
    assert failed.is_failed()
    (run,) = _task_runs(failed.state_details.flow_run_id)
    assert run.name == "broken.pdf" and run.state is not None and run.state.is_failed()


def test_the_same_text_in_neighbouring_sources_is_embedded_once(
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Callable[..., Chatbot],
    prefect_server: None,
) -> None:
    """Source 2 repeats source 1 while source 1 may still be storing: its vectors are reused,
    as a run one source at a time would reuse them from the database."""
    from flows.ingest import ingest_chatbot

    bot = make_chatbot()
    html = DOCS[2].read_bytes()
    ids = [_add(pool, settings, bot, n, html) for n in ("a.html", "b.html", "c.html")]

    results = ingest_chatbot(bot.id, source_ids=ids)

    assert [r["status"] for r in results] == ["ready"] * 3
    assert results[0]["embedded"] == results[0]["chunks"] > 0
    assert [(r["embedded"], r["reused"]) for r in results[1:]] == [(0, results[0]["chunks"])] * 2


def test_tokens_are_counted_while_another_thread_embeds(embedder: Embedder) -> None:
    """The chunk stage counts tokens while the embed stage tokenizes with truncation on the
    same model: neither sees the other's settings."""
    long = "Northwind rents bicycles by the hour, the day or the week. " * 80
    expected = embedder.count_tokens(long)
    assert expected > embedder.max_tokens  # counting never truncates
    stop = threading.Event()
    vectors: list[Any] = []

    def embed_until_stopped() -> None:
        while not stop.is_set():
            vectors.append(embedder.embed([long] * 8))

    worker = threading.Thread(target=embed_until_stopped)
    worker.start()
    try:
        counts = {embedder.count_tokens(long) for _ in range(200)}
    finally:
        stop.set()
        worker.join()
    assert counts == {expected}
    assert vectors and all(v.shape == (8, embedder.dimensions) for v in vectors)


def test_onnx_tokens_match_transformers(embedder: Embedder) -> None:
    """The ONNX and bf16 backends tokenize with ``tokenizers`` directly (no transformers import
    at startup): the same ids as ``AutoTokenizer`` for counting and for embedding."""
    from transformers import AutoTokenizer

    from pipeline.embed.model_files import model_folder
    from pipeline.embed.tokens import Tokens

    _, path = model_folder(DEFAULT_MODEL)
    tokens = Tokens(Path(path), embedder.max_tokens)
    auto = AutoTokenizer.from_pretrained(path, use_fast=True)
    texts = [
        "Hello World",
        "Ünïcödé accents: café, naïve, Ångström",
        "中文字符 mixed with English",
        "control \x00\x01 chars and \u200b zero width",
        "e\u0301 combining, ﬁ ligature, emoji 🙂",
        "",
        "word " * 600,
        (EXAMPLES.parent.parent / "examples" / "README.md").read_text(encoding="utf-8")[:3000],
    ]
    for text in texts:
        assert tokens.count(text) == len(auto.encode(text, add_special_tokens=False))
    expected = auto(texts, truncation=True, max_length=embedder.max_tokens, padding=False)
    assert tokens.encode(texts) == expected["input_ids"]
    assert tokens.pad_id == auto.pad_token_id


def test_warm_up_never_fails_an_ingestion() -> None:
    """A model that cannot load is reported by the flow, per source, not by the warm-up."""
    from flows.startup import warm_up

    calls: list[str] = []

    def broken() -> None:
        calls.append("load")
        raise RuntimeError("no such model")

    assert warm_up(broken) is False  # the tests' own server: not a temporary one
    assert calls == ["load"]


def test_flows_against_a_temporary_server_send_no_heartbeat() -> None:
    """The flow-run heartbeat is for a server that outlives the run; a temporary one does
    not, and waiting for the heartbeat thread held every ``intaj ingest`` by up to 1 s."""
    from prefect.settings import get_current_settings

    from flows.startup import flow_settings

    configured = get_current_settings().flows.heartbeat_frequency
    assert configured is not None
    with flow_settings(temporary_server=True):
        assert get_current_settings().flows.heartbeat_frequency is None
    with flow_settings(temporary_server=False):
        assert get_current_settings().flows.heartbeat_frequency == configured


def test_sources_embed_in_order_and_a_cancelled_one_passes_its_turn() -> None:
    """Source 2 waits for 0 and 1; 0 embeds, 1 never started (cancelled): 2 goes next."""
    from pipeline.run.line import Line

    line, order = Line(), []

    def source(index: int) -> None:
        line.embed_in_turn(index, None)
        order.append(index)

    waiting = threading.Thread(target=source, args=(2,))
    waiting.start()
    source(0)
    assert waiting.is_alive()  # 1's turn has not passed
    line.skip(1)
    waiting.join(5)
    assert order == [0, 2]


def test_a_source_not_embedded_when_interrupted_fails_as_interrupted() -> None:
    from core.errors import IntajError
    from pipeline.run.job import PLAIN_STAGES, Job
    from pipeline.run.line import Line
    from pipeline.run.result import SourceResult

    line = Line()
    line.stopping = True
    job = Job(SourceResult("s1", "a.pdf"), PLAIN_STAGES)

    line.embed_in_turn(0, job)

    assert isinstance(job.error, IntajError) and job.error.code == "interrupted"
    assert "run it again" in job.error.message


def test_plain_stages_retry_transient_errors_only() -> None:
    """Inside a per-source task the stages are plain calls: load and store still retry what
    the stage tasks retry (transient errors), and nothing else."""
    from core.errors import DatabaseError, SourceError
    from pipeline.run.retry import retried

    calls: list[str] = []

    def flaky() -> str:
        calls.append("flaky")
        if len(calls) == 1:
            raise DatabaseError("connection lost")  # transient
        return "stored"

    def broken() -> str:
        calls.append("broken")
        raise SourceError("no such file")  # permanent

    assert retried(flaky)() == "stored"
    with pytest.raises(SourceError):
        retried(broken)()
    assert calls == ["flaky", "flaky", "broken"]
