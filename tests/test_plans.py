"""Plans (issue 27): each limit, hit through each place where work enters, gives a
PlanLimitError naming the limit, the usage and the plan, and leaves the database as it was
(row counts before and after); an upgrade lifts the limit at once; concurrent registrations
and messages at the edge never pass it. Real PostgreSQL, real storage; no HTTP here
(test_plans_http.py has the statuses)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from core.errors import PlanLimitError
from core.settings import Settings
from core.settings_plans import PlanLimits
from db import dispatch as dispatch_db
from db import sources as sources_db
from db.chatbots import Chatbot
from flows.trigger import accept_database_event, accept_storage_event
from intaj import records, services
from intaj.whatsapp import setup
from pipeline import plans
from pipeline.sources import registration
from tests.cli import intaj
from tests.fix_orchestration import upload

OPEN = PlanLimits()


def plan_settings(settings: Settings, **free: int) -> Settings:
    """The session's settings with a free plan of only ``free``'s limits (pro: no limit)."""
    return settings.model_copy(
        update={"plans": {"free": PlanLimits(**free), "pro": OPEN, "business": OPEN}}
    )


def counts(pool: ConnectionPool, bot: Chatbot) -> dict[str, Any]:
    """Every row the entry points could write for ``bot``'s owner."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM data_sources WHERE chatbot_id = %(b)s),"
            " (SELECT count(*) FROM data_sources WHERE chatbot_id = %(b)s AND status <> 'failed'),"
            " (SELECT count(*) FROM chatbots WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM connections WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM messages WHERE chatbot_id = %(b)s),"
            " (SELECT coalesce(sum(messages), 0) FROM message_usage WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM ingestion_runs WHERE chatbot_id = %(b)s)",
            {"b": bot.id, "u": bot.user_id},
        ).fetchone()
    assert row is not None
    names = ("sources", "live_sources", "chatbots", "connections", "messages", "usage", "runs")
    return dict(zip(names, row, strict=True))


def stored_files(settings: Settings, bot: Chatbot) -> int:
    folder = settings.resolved_storage_root / bot.id
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def upgrade(pool: ConnectionPool, bot: Chatbot, plan: str) -> None:
    with pool.connection() as conn:
        conn.execute("UPDATE profiles SET subscription = %s WHERE id = %s", (plan, bot.user_id))


@pytest.fixture
def files(tmp_path: Path) -> Callable[[int, int], list[str]]:
    def make(n: int, size: int = 40) -> list[str]:
        paths = []
        for i in range(n):
            path = tmp_path / f"doc-{uuid.uuid4().hex[:8]}-{i}.txt"
            path.write_bytes(b"x" * size)
            paths.append(str(path))
        return paths

    return make


def refused(call: Callable[[], object], limit: str, usage: int, allowed: int) -> PlanLimitError:
    with pytest.raises(PlanLimitError) as caught:
        call()
    error = caught.value
    assert (error.limit, error.usage, error.allowed, error.plan) == (limit, usage, allowed, "free")
    assert f"{allowed}" in error.message and "free plan" in error.message
    assert error.code == "plan_limit"
    return error


def test_registration_over_the_source_limit_stores_nothing_and_an_upgrade_lifts_it(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any, files: Any
) -> None:
    tight = plan_settings(settings, sources_per_chatbot=2)
    bot = make_chatbot()
    first, second, third = files(3)
    for path in (first, second):
        assert registration.register(pool, tight, bot, path).source is not None
    before, on_disk = counts(pool, bot), stored_files(tight, bot)
    refused(lambda: registration.register(pool, tight, bot, third), "sources_per_chatbot", 2, 2)
    refused(lambda: registration.register(pool, tight, bot, "https://example.com/a"),
            "sources_per_chatbot", 2, 2)  # fmt: skip
    assert counts(pool, bot) == before and stored_files(tight, bot) == on_disk == 2
    # the same file again is not a new source: its bytes are replaced in place
    assert registration.register(pool, tight, bot, first).source is not None
    upgrade(pool, bot, "pro")
    assert registration.register(pool, tight, bot, third).source is not None
    assert counts(pool, bot)["sources"] == 3


def test_registration_over_the_file_and_byte_limits_stores_nothing(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any, files: Any
) -> None:
    tight = plan_settings(settings, file_bytes=100, bytes_per_chatbot=150)
    bot = make_chatbot()
    (big,) = files(1, 101)
    before = counts(pool, bot)
    error = refused(lambda: registration.register(pool, tight, bot, big), "file_bytes", 101, 100)
    assert "limit of 100 bytes in one file (the file has 101)" in error.message
    (small,) = files(1, 100)
    assert registration.register(pool, tight, bot, small).source is not None
    (other,) = files(1, 60)
    refused(lambda: registration.register(pool, tight, bot, other), "bytes_per_chatbot", 100, 150)
    assert counts(pool, bot)["sources"] == before["sources"] + 1
    assert stored_files(tight, bot) == 1


def test_ten_concurrent_registrations_at_the_edge_never_pass_the_limit(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any, files: Any
) -> None:
    tight = plan_settings(settings, sources_per_chatbot=5)
    bot = make_chatbot()
    for path in files(3):
        registration.register(pool, tight, bot, path)
    racing, start = files(10), threading.Barrier(10)
    outcomes: list[str] = []

    def one(path: str) -> None:
        start.wait()
        try:
            registration.register(pool, tight, bot, path)
            outcomes.append("registered")
        except PlanLimitError:
            outcomes.append("refused")

    threads = [threading.Thread(target=one, args=(p,)) for p in racing]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 8 + ["registered"] * 2
    assert counts(pool, bot)["sources"] == 5
    assert stored_files(tight, bot) == 5


def test_the_storage_webhook_over_the_limit_creates_no_source(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    tight = plan_settings(settings, sources_per_chatbot=1, file_bytes=1000)
    bot = make_chatbot()

    def event(size: int) -> dict[str, Any]:
        name = f"{bot.id}/{uuid.uuid4()}/manual.pdf"
        return {"type": "INSERT", "record": {"bucket_id": "docs", "name": name,
                                             "metadata": {"size": size}}}  # fmt: skip

    before = counts(pool, bot)
    refused(lambda: accept_storage_event(pool, tight, event(5000)), "file_bytes", 5000, 1000)
    assert counts(pool, bot) == before
    assert accept_storage_event(pool, tight, event(10)).pending
    refused(lambda: accept_storage_event(pool, tight, event(10)), "sources_per_chatbot", 1, 1)
    assert counts(pool, bot)["sources"] == before["sources"] + 1


def test_the_upload_trigger_never_claims_a_source_over_the_limit(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    tight = plan_settings(settings, sources_per_chatbot=2)
    bot = make_chatbot()
    made = [upload(pool, tight, bot.id, f"f{i}.txt", b"tandem bikes") for i in range(4)]
    limits = plans.params(tight)
    with pool.connection() as conn:
        claimed = dispatch_db.claim_next(conn, chatbot_id=bot.id, limit=10, plans=limits)
    assert sorted(c.source_id for c in claimed) == sorted(made[:2])  # the first two made
    with pool.connection() as conn:
        late = [sources_db.get(conn, source_id=i) for i in made[2:]]
    assert all(s is not None and (s.status, s.error_code) == ("failed", "plan_limit") for s in late)
    assert late[0] is not None and "free plan's limit of 2 data sources" in (late[0].error or "")
    assert counts(pool, bot)["runs"] == 0
    with pool.connection() as conn:  # retry-failed (flows/maintenance.py) leaves it failed
        assert (
            dispatch_db.claim(conn, source_id=made[2], from_status=("failed",), plans=limits)
            is None
        )
    upgrade(pool, bot, "pro")  # then retry-failed claims them
    with pool.connection() as conn:
        again = dispatch_db.claim(conn, source_id=made[2], from_status=("failed",), plans=limits)
    assert again is not None


def test_the_database_webhook_refuses_a_row_over_the_limit(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    tight = plan_settings(settings, sources_per_chatbot=1)
    bot = make_chatbot()
    made = [upload(pool, tight, bot.id, f"f{i}.txt", b"tandem") for i in range(2)]

    def event(source_id: str) -> dict[str, Any]:
        return {"type": "INSERT", "table": "data_sources", "record": {"id": source_id}}

    assert accept_database_event(pool, event(made[0]), tight).pending == [made[0]]
    refused(lambda: accept_database_event(pool, event(made[1]), tight),
            "sources_per_chatbot", 1, 1)  # fmt: skip
    assert counts(pool, bot)["live_sources"] == 1


def test_messages_over_the_month_are_refused_and_never_pass_it_when_racing(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    tight = plan_settings(settings, messages_per_month=5)
    bot = make_chatbot()
    start, outcomes = threading.Barrier(8), []

    def one() -> None:
        start.wait()
        try:
            plans.count_message(pool, tight, user_id=bot.user_id)
            outcomes.append("counted")
        except PlanLimitError:
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["counted"] * 5 + ["refused"] * 3
    before = counts(pool, bot)
    refused(lambda: plans.count_message(pool, tight, user_id=bot.user_id),
            "messages_per_month", 5, 5)  # fmt: skip
    assert counts(pool, bot) == before and before["usage"] == 5
    upgrade(pool, bot, "pro")
    plans.count_message(pool, tight, user_id=bot.user_id)
    assert counts(pool, bot)["usage"] == 6


def test_the_answer_entry_point_refuses_before_it_writes_a_message(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    from retrieval.answer import answer

    tight = plan_settings(settings, messages_per_month=0)
    bot = make_chatbot()
    before = counts(pool, bot)
    refused(lambda: answer(pool, tight, chatbot=bot, message="Do you rent tandems?"),
            "messages_per_month", 0, 0)  # fmt: skip
    assert counts(pool, bot) == before


def test_a_message_whose_answer_fails_is_not_counted(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    """The owner pays for answers, not for outages: the embedding provider unreachable (a
    real OpenAI client against a closed port), the message is given back."""
    from core.errors import IntajError
    from retrieval.answer import answer

    tight = plan_settings(settings, messages_per_month=5)
    bot = make_chatbot()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    outage = tight.model_copy(
        update={
            "embedding_model": "text-embedding-3-small@384",
            "openai_api_key": SecretStr("sk-test"),
            "openai_base_url": f"http://127.0.0.1:{port}/v1",
            "openai_max_retries": 0,
        }
    )
    before = counts(pool, bot)
    with pytest.raises(IntajError):
        answer(pool, outage, chatbot=bot, message="Do you rent tandems?")
    assert counts(pool, bot) == before and before["usage"] == 0

    answer(pool, tight, chatbot=bot, message="Do you rent tandems?")
    assert counts(pool, bot)["usage"] == 1


def test_widgets_and_whatsapp_connections_over_the_plan_are_not_added(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    tight = plan_settings(settings, widgets=1, whatsapp_connections=0)
    bot = make_chatbot()
    ctx = services.Context(tight, pool)
    records.add_widget(ctx, bot, ["https://shop.example"])
    before = counts(pool, bot)
    refused(lambda: records.add_widget(ctx, bot, ["https://shop.example"]), "widgets", 1, 1)
    refused(lambda: records.add_connection(ctx, bot, "whatsapp", {"access_token": "t"}),
            "whatsapp_connections", 0, 0)  # fmt: skip
    refused(lambda: setup.add(pool, tight, bot, phone_number_id="1234567", access_token="t",
                              app_secret="s"), "whatsapp_connections", 0, 0)  # fmt: skip
    assert counts(pool, bot) == before
    assert records.add_connection(ctx, bot, "openai", {"api_key": "k"})  # not counted


@pytest.fixture
def local_free(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's settings with the local profile on a free plan of no chatbot and one source."""
    from core.settings import get_settings

    monkeypatch.setenv("INTAJ_LOCAL_PLAN", "free")
    monkeypatch.setenv("INTAJ_PLANS", '{"free": {"sources_per_chatbot": 1, "chatbots": 0}}')
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_cli_exits_non_zero_with_one_line_and_usage_shows_the_plan(
    pool: ConnectionPool, make_chatbot: Any, files: Any, local_free: None
) -> None:
    bot = make_chatbot()
    first, second = files(2)
    assert intaj("source", "add", first, "--chatbot", bot.id)[0] == 0
    before = counts(pool, bot)
    code, out = intaj("source", "add", second, "--chatbot", bot.id)
    assert code == 2
    assert out.strip().splitlines() == [
        "error: over the free plan's limit of 1 data sources per chatbot (in use: 1):"
        " upgrade the plan or delete sources"
    ]
    assert counts(pool, bot) == before
    code, shown = intaj("usage", "--owner", bot.user_id, "--json")
    assert code == 0 and shown["plan"] == "free"
    assert shown["chatbots"][0]["sources_per_chatbot"] == {"used": 1, "allowed": 1}
    assert shown["limits"]["chatbots"]["used"] == 1
    code, out = intaj("chatbot", "create", f"plan-{uuid.uuid4().hex[:8]}")
    assert code == 2 and "free plan's limit of 0 chatbots" in out
    code, out = intaj("usage")
    assert code == 0 and "plan free" in out


def test_a_whatsapp_message_over_the_month_is_kept_and_not_answered(
    pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    from db import whatsapp as whatsapp_db
    from db.whatsapp import InboxRow
    from intaj.whatsapp.worker import InboxWorker

    tight = plan_settings(settings, messages_per_month=0)
    bot = make_chatbot()
    added = setup.add(pool, settings, bot, phone_number_id="1234567", access_token="token-0123",
                      app_secret="secret-0123")  # fmt: skip
    with pool.connection() as conn:
        inbox_id = whatsapp_db.receive(
            conn, connection_id=added.connection_id, chatbot_id=bot.id,
            wa_message_id=f"wamid.{uuid.uuid4().hex}", sender="15550001111", kind="text",
            body="Do you rent tandems?",
        )  # fmt: skip
        row = conn.execute(
            "UPDATE whatsapp_inbox SET state = 'working', claim = gen_random_uuid(),"
            " attempts = 1 WHERE id = %s RETURNING id::text, claim::text, wa_message_id,"
            " connection_id::text, chatbot_id::text, sender, kind, body, received_at, attempts,"
            " conversation_id::text, reply, reply_message_id::text, parts_sent",
            (inbox_id,),
        ).fetchone()  # what the worker's claim returns
    assert row is not None
    before = counts(pool, bot)
    worker = InboxWorker(pool, tight)
    try:
        worker.work(InboxRow(*row))
    finally:
        worker.client.close()
    with pool.connection() as conn:
        state = conn.execute(
            "SELECT state, error FROM whatsapp_inbox WHERE id = %s", (inbox_id,)
        ).fetchone()
    assert state is not None and state[0] == "limited"
    assert "free plan's limit of 0 messages a month" in state[1]
    assert counts(pool, bot) == before  # no messages rows, nothing counted
