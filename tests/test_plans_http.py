"""Plans over HTTP (issue 27; docs/plans.md): a limit hit through the API's messages (JSON and
SSE), the widget's, the storage webhook and the WhatsApp route answers 402 ``plan_limit``
naming the limit, the usage and the plan, before anything is written; ``GET
/v1/chatbots/{id}/usage`` shows the owner's plan and usage to them alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from core.settings import Settings
from core.settings_plans import PlanLimits
from db import connections as connections_db
from db.chatbots import Chatbot
from intaj.http import create_app
from tests.fix_api import api_settings, bearer
from tests.fix_orchestration import upload
from tests.knowledge import tenants
from tests.servers.asgi import serving
from tests.test_plans import counts

SECRET = "webhook-secret-for-the-plans-test"
ORIGIN = "https://shop.example"
FREE = PlanLimits(
    messages_per_month=1, sources_per_chatbot=1, file_bytes=1000, whatsapp_connections=0
)


@pytest.fixture(scope="module")
def world(pool: ConnectionPool, settings: Settings) -> Iterator[tuple[str, Chatbot, Chatbot]]:
    tight = api_settings(settings).model_copy(
        update={
            "plans": {"free": FREE, "pro": PlanLimits(), "business": PlanLimits()},
            "webhook_secret": SecretStr(SECRET),
        }
    )
    with tenants(pool, "plans-http", "plans-other") as (bot, other):
        with pool.connection() as conn:
            conn.execute(
                "INSERT INTO message_usage (user_id, month, messages) VALUES"
                " (%s, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1)",
                (bot.user_id,),
            )  # this month's one message is used
        with serving(create_app(tight, pool=pool)) as url:
            yield url, bot, other


def refused(reply: httpx.Response, limit: str) -> dict[str, Any]:
    assert reply.status_code == 402, reply.text
    error = reply.json()["error"]
    assert error["code"] == "plan_limit"
    assert "free plan" in error["message"] and "upgrade the plan" in error["message"]
    return dict(error)


def test_messages_over_the_month_are_402_before_anything_is_written(
    pool: ConnectionPool, world: tuple[str, Chatbot, Chatbot]
) -> None:
    url, bot, _ = world
    before = counts(pool, bot)
    path = f"{url}/v1/chatbots/{bot.id}/messages"
    for body in ({"message": "Helmets?"}, {"message": "Helmets?", "stream": True}):
        error = refused(httpx.post(path, json=body, headers=bearer(bot.user_id), timeout=60),
                        "messages_per_month")  # fmt: skip
        assert "limit of 1 messages a month (in use: 1)" in error["message"]
    with pool.connection() as conn:
        widget = connections_db.add_website(
            conn, user_id=bot.user_id, chatbot_id=bot.id, origins=[ORIGIN]
        )
    reply = httpx.post(f"{url}/v1/widgets/{widget.id}/messages", json={"message": "Locks?"},
                       headers={"Origin": ORIGIN}, timeout=60)  # fmt: skip
    refused(reply, "messages_per_month")
    assert counts(pool, bot) == {**before, "connections": before["connections"] + 1}


def test_the_storage_webhook_over_the_limit_is_402(
    pool: ConnectionPool, world: tuple[str, Chatbot, Chatbot]
) -> None:
    url, bot, _ = world
    before = counts(pool, bot)
    event = {"type": "INSERT", "table": "objects", "schema": "storage",
             "record": {"bucket_id": "docs", "name": f"{bot.id}/{uuid.uuid4()}/big.pdf",
                        "metadata": {"size": 5000}}}  # fmt: skip
    reply = httpx.post(f"{url}/v1/webhooks/storage", json=event,
                       headers={"Authorization": f"Bearer {SECRET}"})  # fmt: skip
    refused(reply, "file_bytes")
    assert counts(pool, bot) == before


def test_the_database_webhook_refuses_a_row_over_the_limit_with_402(
    pool: ConnectionPool, settings: Settings, world: tuple[str, Chatbot, Chatbot]
) -> None:
    url, _, other = world  # the other owner: free, 1 source per chatbot
    made = [upload(pool, settings, other.id, f"f{i}.txt", b"tandem") for i in range(2)]

    def post(source_id: str) -> httpx.Response:
        event = {"type": "INSERT", "table": "data_sources", "schema": "public",
                 "record": {"id": source_id}, "old_record": None}  # fmt: skip
        return httpx.post(f"{url}/v1/webhooks/database", json=event,
                          headers={"Authorization": f"Bearer {SECRET}"})  # fmt: skip

    first = post(made[0])  # within the plan: accepted (a listener of the session may have
    assert first.status_code == 202, first.text  # taken the row already: then "ignored")
    second = post(made[1])
    if second.status_code == 202:  # a listener of the test session claimed it first: its
        assert second.json()["ignored"] == "the source is not pending"  # claim refused it
    else:
        error = refused(second, "sources_per_chatbot")
        assert "limit of 1 data sources per chatbot (in use: 1)" in error["message"]
    with pool.connection() as conn:
        row = conn.execute("SELECT status, error_code FROM data_sources WHERE id = %s", (made[1],))
        assert row.fetchone() == ("failed", "plan_limit")  # never claimed


def test_a_whatsapp_connection_over_the_plan_is_402(
    pool: ConnectionPool, world: tuple[str, Chatbot, Chatbot]
) -> None:
    url, bot, _ = world
    before = counts(pool, bot)
    body = {"phone_number_id": "1234567890", "access_token": "EAA-token-0123456789",
            "app_secret": "app-secret-0123"}  # fmt: skip
    reply = httpx.post(f"{url}/v1/chatbots/{bot.id}/whatsapp", json=body,
                       headers=bearer(bot.user_id))  # fmt: skip
    refused(reply, "whatsapp_connections")
    assert counts(pool, bot) == before


def test_the_usage_route_shows_the_plan_to_its_owner_only(
    world: tuple[str, Chatbot, Chatbot],
) -> None:
    url, bot, other = world
    reply = httpx.get(f"{url}/v1/chatbots/{bot.id}/usage", headers=bearer(bot.user_id))
    assert reply.status_code == 200
    shown = reply.json()
    assert shown["plan"] == "free" and shown["owner"] == bot.user_id
    assert shown["limits"]["messages_per_month"] == {"used": 1, "allowed": 1}
    assert [c["id"] for c in shown["chatbots"]] == [bot.id]
    theirs = httpx.get(f"{url}/v1/chatbots/{bot.id}/usage", headers=bearer(other.user_id))
    assert theirs.status_code == 404
