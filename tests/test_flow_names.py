"""The flows take what a data team knows (a chatbot's name, a source's file name or URL, or
their ids), refuse what names nothing or several things in one readable line, and present
their runs the same way however they were started: a readable name, the same tags, one INFO
line per stage in the run's logs, artifacts that name files (pipeline/run/refs.py,
flows/labels.py, flows/stage_logs.py). Real database, real model, Prefect's test server."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.errors import InputError, NotFoundError
from core.settings import Settings
from db import sources as sources_db
from db.chatbots import Chatbot
from flows.labels import tags_for, trigger
from pipeline.run import refs
from pipeline.sources import storage_for, upload_key

NOTE = "Northwind Bikes repairs punctures while you wait, in under fifteen minutes.\n"


def _upload(pool: ConnectionPool, settings: Settings, bot: Chatbot, name: str) -> str:
    key = upload_key(bot.id, name)
    storage_for(key, settings).write(key, f"{name}: {NOTE}".encode())
    with pool.connection() as conn:
        return sources_db.add(conn, chatbot_id=bot.id, type="txt", path=key, name=name).id


def _url(pool: ConnectionPool, bot: Chatbot, url: str) -> str:
    with pool.connection() as conn:
        return sources_db.add(conn, chatbot_id=bot.id, type="url", path=url).id


def test_a_chatbot_by_name_or_id_and_what_is_refused(
    pool: ConnectionPool, make_chatbot: Callable[..., Chatbot]
) -> None:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    bot = make_chatbot(name)
    assert refs.chatbot(pool, name).id == bot.id
    assert refs.chatbot(pool, f"  {bot.id} ").id == bot.id
    with pytest.raises(NotFoundError) as unknown:
        refs.chatbot(pool, name[:-1] + "Z")
    message = str(unknown.value)
    assert "\n" not in message and "uuid" not in message.lower() and "SELECT" not in message
    assert "intaj chatbot list" in message
    with pytest.raises(NotFoundError, match=f"did you mean '{name}'"):
        refs.chatbot(pool, name.upper()[:8])  # a part of it, in other letters: suggested
    with pytest.raises(NotFoundError, match="no chatbot named"):
        refs.chatbot(pool, str(uuid.uuid4()))  # a well-formed id of nothing
    twin = make_chatbot(name)  # another owner's chatbot of the same name
    with pytest.raises(InputError) as ambiguous:
        refs.chatbot(pool, name)
    assert ambiguous.value.code == "ambiguous_name"
    assert bot.id in str(ambiguous.value) and twin.id in str(ambiguous.value)
    with pytest.raises(InputError, match="enter a chatbot's name or id"):
        refs.chatbot(pool, " ")


def test_a_source_by_file_name_url_or_id_within_its_chatbot(
    pool: ConnectionPool, settings: Settings, make_chatbot: Callable[..., Chatbot]
) -> None:
    bot, other = make_chatbot(), make_chatbot()
    manual = _upload(pool, settings, bot, f"manual-{uuid.uuid4().hex[:6]}.txt")
    url = f"https://northwind.example/{uuid.uuid4().hex[:6]}/prices"
    page = _url(pool, bot, url)
    with pool.connection() as conn:
        stored = sources_db.get(conn, source_id=manual)
    assert stored is not None and stored.name is not None
    assert refs.source(pool, stored.name, bot=bot).id == manual
    assert refs.source(pool, stored.path, bot=bot).id == manual
    assert refs.source(pool, url, bot=bot).id == page
    assert refs.source(pool, manual).id == manual  # an id needs no chatbot
    assert refs.label(stored) == stored.name and refs.file_name(stored.path) == stored.name
    with pytest.raises(NotFoundError, match=f"chatbot '{other.name}' has no source"):
        refs.source(pool, manual, bot=other)  # another chatbot's source
    with pytest.raises(NotFoundError) as unknown:
        refs.source(pool, "price-list.pdf", bot=bot)
    assert "intaj source list --chatbot" in str(unknown.value)
    _upload(pool, settings, other, stored.name)  # the same file name in another chatbot
    with pytest.raises(InputError) as ambiguous:
        refs.source(pool, stored.name)
    assert str(ambiguous.value).count(" (id ") == 2 and other.name in str(ambiguous.value)
    assert refs.source(pool, stored.name, bot=bot).id == manual  # within its chatbot: one
    ready = refs.chosen(pool, bot, "pending", [url, stored.name, manual])
    assert [s.id for s in ready] == [page, manual]  # in the order given, each once


def test_the_tags_a_run_gets_however_it_was_started(
    make_chatbot: Callable[..., Chatbot],
) -> None:
    assert trigger([], deployment=False, scheduled=False, subflow=False) == "trigger:cli"
    assert trigger([], deployment=True, scheduled=False, subflow=False) == "trigger:ui"
    assert trigger(["auto-scheduled"], deployment=True, scheduled=True, subflow=False) == (
        "trigger:schedule"
    )
    assert trigger([], deployment=False, scheduled=False, subflow=True) == "trigger:flow"
    assert trigger(["trigger:upload"], deployment=True, scheduled=False, subflow=False) is None
    bot = make_chatbot()
    tags = tags_for(bot, [f"f{i}.txt" for i in range(30)] + ["f0.txt"])
    assert tags[:2] == [f"chatbot:{bot.name}", f"chatbot:{bot.id}"] and len(tags) == 12


@pytest.fixture
def run_logs_at_info() -> Iterator[None]:
    """The runs' INFO lines sent to the server, as with Prefect's default PREFECT_LOGGING_LEVEL
    (the test session sets WARNING)."""
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _run_logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30, at_exit=False)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [entry.message for entry in logs]


def test_a_run_by_names_is_named_tagged_and_logged_stage_by_stage(
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Callable[..., Chatbot],
    prefect_server: None,
    run_logs_at_info: None,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.ingest import ingest_chatbot, ingest_data_source

    bot = make_chatbot(f"shop-{uuid.uuid4().hex[:6]}")
    first = _upload(pool, settings, bot, "repairs.txt")
    _upload(pool, settings, bot, "opening-hours.txt")
    state = ingest_chatbot(bot.name, source_ids=["repairs.txt"], return_state=True)
    assert state.is_completed(), state
    assert [r["status"] for r in state.result()] == ["ready"]
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    assert run.name == f"ingest {bot.name} repairs.txt"
    expected = {f"chatbot:{bot.name}", f"chatbot:{bot.id}", "source:repairs.txt", "trigger:cli"}
    assert expected <= set(run.tags)
    logs = "\n".join(_run_logs(run_id))
    for line in ("fetched repairs.txt", "parsed repairs.txt", "chunked into 1 chunks",
                 "embedded 1 chunks with", "stored 1 chunks of repairs.txt"):  # fmt: skip
        assert line in logs, logs
    texts = {a.key: str(a.data) for a in artifacts}
    assert f"ingest-source-{first}" in texts and "ingestion-summary" in texts
    assert "| repairs.txt | ready |" in texts["ingestion-summary"]
    assert bot.id not in texts["ingestion-summary"]  # a file name, not its storage key

    wrong = ingest_data_source("no-such-file.pdf", return_state=True)
    assert wrong.is_failed()
    line = "no chatbot has a source 'no-such-file.pdf'"
    assert line in str(wrong.message)
    assert any(m.startswith(line) for m in _run_logs(wrong.state_details.flow_run_id))
    with get_client(sync_client=True) as client:
        refused = client.read_flow_run(wrong.state_details.flow_run_id)  # type: ignore[arg-type]
    assert refused.name == "ingest no-such-file.pdf: refused" and "trigger:cli" in refused.tags
