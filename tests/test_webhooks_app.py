"""The webhooks as `intaj serve` runs them: mounted by create_app, served by a real uvicorn,
over the real database. Without INTAJ_WEBHOOK_SECRET they are closed (503, saying which setting
opens them); with it, only the secret opens them: an API key or a user's token does not."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from core.settings import Settings
from db import sources as sources_db
from intaj.http import create_app
from tests.fix_api import SERVICE_KEY, api_settings, bearer
from tests.fix_orchestration import upload
from tests.servers.asgi import serving

SECRET = "webhook-secret-for-the-app-test"
TIMEOUT = 60  # the first accepted event imports flows.trigger (and Prefect)
TEXT = b"Northwind Bikes rents tandem bicycles on weekends.\n"


@pytest.fixture(scope="module")
def open_url(pool: ConnectionPool, settings: Settings) -> Iterator[str]:
    configured = api_settings(settings).model_copy(update={"webhook_secret": SecretStr(SECRET)})
    with serving(create_app(configured, pool=pool)) as url:
        yield url


@pytest.fixture(scope="module")
def closed_url(pool: ConnectionPool, settings: Settings) -> Iterator[str]:
    unset = api_settings(settings).model_copy(update={"webhook_secret": None})
    with serving(create_app(unset, pool=pool)) as url:
        yield url


def reupload_event(source_id: str) -> dict[str, Any]:
    """The database webhook's event for a re-upload: it makes a ready source pending."""
    return {"type": "UPDATE", "table": "data_sources", "schema": "public",
            "record": {"id": source_id, "path": "new"},
            "old_record": {"id": source_id, "path": "old"}}  # fmt: skip


def status(pool: ConnectionPool, source_id: str) -> str:
    with pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    assert source is not None
    return source.status


def make_ready(pool: ConnectionPool, source_id: str) -> None:
    with pool.connection() as conn:
        sources_db.mark_ready(
            conn, source_id=source_id, content_hash="h", size_bytes=1, chunk_count=1, model="m"
        )


def test_without_a_secret_the_webhooks_are_closed_and_say_why(
    closed_url: str, pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    bot = make_chatbot()
    source_id = upload(pool, settings, bot.id, "closed.txt", TEXT)
    make_ready(pool, source_id)
    event = reupload_event(source_id)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {SECRET}"}):
        reply = httpx.post(
            f"{closed_url}/v1/webhooks/database", json=event, headers=headers, timeout=TIMEOUT
        )
        assert reply.status_code == 503
        assert reply.json()["error"] == {
            "code": "service_unavailable",
            "message": "webhooks are disabled: set INTAJ_WEBHOOK_SECRET",
        }
    assert status(pool, source_id) == "ready"  # nothing was accepted
    # the API itself still works, and lists the webhook routes
    assert httpx.get(f"{closed_url}/healthz").json() == {"status": "ok"}
    paths = httpx.get(f"{closed_url}/openapi.json").json()["paths"]
    assert {"/v1/webhooks/storage", "/v1/webhooks/database"} <= set(paths)


def test_only_the_webhook_secret_opens_them(
    open_url: str, pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    bot = make_chatbot()
    source_id = upload(pool, settings, bot.id, "hooked.txt", TEXT)
    make_ready(pool, source_id)
    body = json.dumps(reupload_event(source_id)).encode()
    url = f"{open_url}/v1/webhooks/database"
    wrong = [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": SERVICE_KEY},  # an API credential is not the webhook secret
        bearer(bot.user_id),  # nor is the chatbot owner's valid access token
        {"X-Intaj-Signature": "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()},
    ]
    for headers in wrong:
        reply = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
        assert reply.status_code == 401, headers
        assert reply.json()["error"]["code"] == "unauthorized"
    assert status(pool, source_id) == "ready"
    secret = {"Authorization": f"Bearer {SECRET}"}
    reply = httpx.post(url, content=body, headers=secret, timeout=TIMEOUT)
    assert reply.status_code == 202
    assert reply.json() == {"pending": [source_id], "dispatched": [], "ignored": None}
    assert status(pool, source_id) == "pending"


def test_a_signed_storage_event_creates_its_source(
    open_url: str, pool: ConnectionPool, make_chatbot: Any
) -> None:
    bot = make_chatbot()
    name = f"{bot.id}/{uuid.uuid4()}/opening-hours.html"
    body = json.dumps({"bucket": "uploads", "name": name}).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    reply = httpx.post(
        f"{open_url}/v1/webhooks/storage",
        content=body,
        headers={"X-Intaj-Signature": f"sha256={digest}", "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 202, reply.text
    (source_id,) = reply.json()["pending"]
    with pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    assert source is not None
    assert (source.chatbot_id, source.path, source.type, source.status) == (
        bot.id,
        f"supabase://uploads/{name}",
        "html",
        "pending",
    )


MALFORMED = [
    ("database", {"table": "data_sources", "type": "INSERT", "record": ["x"]}, "record"),
    ("database", {"table": "data_sources", "type": "INSERT", "record": "x"}, "record"),
    ("database", {"table": "data_sources", "type": "UPDATE", "record": 7}, "record"),
    ("database", {"table": "data_sources", "type": "INSERT", "record": {"id": "not-a-uuid"}},
     "record.id"),
    ("database", {"table": "data_sources", "type": "INSERT", "record": {"id": 12}}, "record.id"),
    ("database", {"table": "data_sources", "type": "UPDATE",
                  "record": {"id": "0" * 8 + "-0000-0000-0000-" + "0" * 11 + "\x00"}}, "record.id"),
    ("database", {"table": "data_sources", "type": "UPDATE", "old_record": [1],
                  "record": {"id": "00000000-0000-0000-0000-000000000000"}}, "old_record"),
    ("storage", {"record": ["x"]}, "record"),
    ("storage", {"record": {"bucket_id": "up\x00loads", "name": "a/b/c.pdf"}}, "record.bucket_id"),
    ("storage", {"record": {"bucket_id": "uploads", "name": 42}}, "record.name"),
    ("storage", {"record": {"bucket_id": "uploads", "name": "a/\x00/c.pdf"}}, "record.name"),
]  # fmt: skip


@pytest.mark.parametrize(("route", "event", "field"), MALFORMED)
def test_a_malformed_event_is_refused_with_its_field_named_and_nothing_done(
    open_url: str, route: str, event: dict[str, Any], field: str
) -> None:
    reply = httpx.post(
        f"{open_url}/v1/webhooks/{route}",
        json=event,
        headers={"Authorization": f"Bearer {SECRET}"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_event" and error["message"].startswith(f"{field}:")
