"""The playground's WhatsApp panel and its owner routes: an owner adds a connection over the
API, sees the webhook URL to paste into Meta's app, sees it verified once Meta's handshake came,
and sees each message's reply: sent and read, or not sent and why. Another owner sees nothing of
it. The real app under uvicorn with the inbox worker started in this process, the fake Graph
API, headless Chromium. INTAJ_WEB_SCREENSHOTS=docs saves docs/whatsapp-panel.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db.chatbots import Chatbot
from intaj.whatsapp.worker import InboxWorker
from pipeline.embed import Embedder
from tests.fix_api import bearer, token
from tests.fix_orchestration import wait_for
from tests.fix_web import NEEDS_CHROMIUM, served, shoot, web_settings
from tests.fix_whatsapp import APP_SECRET, PHONE, inbox_state, post, shop_bot, wamid
from tests.knowledge import tenants
from tests.servers.graph_api import Fail, delivery, running_graph_api, text_message


@pytest.fixture(scope="module")
def bot(pool: ConnectionPool, embedder: Embedder) -> Iterator[Chatbot]:
    with shop_bot(pool, embedder) as found:
        yield found


def test_an_owner_adds_a_connection_sees_it_verified_and_its_replies(
    settings: Settings, pool: ConnectionPool, bot: Chatbot, page: Any
) -> None:
    from playwright.sync_api import expect

    with running_graph_api() as graph:
        own = web_settings(
            settings, whatsapp_graph_url=graph.base_url, whatsapp_send_backoff_seconds=0.01,
            whatsapp_poll_seconds=0.2,
        )  # fmt: skip
        worker = InboxWorker(pool, own)
        worker.start()
        try:
            with served(own, pool) as base:
                check_panel(base, bot, pool, graph, page, expect)
        finally:
            worker.stop()


def check_panel(base: str, bot: Chatbot, pool: ConnectionPool, graph: Any, page: Any,
                expect: Any) -> None:  # fmt: skip
    route = f"{base}/v1/chatbots/{bot.id}/whatsapp"
    body = {"phone_number_id": PHONE, "access_token": "EAA-panel-token-0123456789",
            "app_secret": APP_SECRET}  # fmt: skip
    added = httpx.post(route, json=body, headers=bearer(bot.user_id))
    assert added.status_code == 201, added.text
    hook = added.json()["webhook_url"]
    assert hook == f"{base}/v1/whatsapp/{added.json()['id']}/webhook"
    verify = added.json()["verify_token"]
    assert len(verify) >= 16  # made for the owner, shown once
    bad = httpx.post(route, json={**body, "phone_number_id": "+1 555"}, headers=bearer(bot.user_id))
    assert bad.status_code == 422
    with tenants(pool, "wa-rival") as (rival,):
        assert httpx.get(route, headers=bearer(rival.user_id)).status_code == 404
        assert httpx.post(route, json=body, headers=bearer(rival.user_id)).status_code == 404

    query = {"hub.mode": "subscribe", "hub.verify_token": verify, "hub.challenge": "42"}
    assert httpx.get(hook, params=query).text == "42"
    answered, refused = wamid(), wamid()
    post(hook, delivery(PHONE, [text_message(answered, "15550400001", "When are you open?")]))
    wait_for(lambda: inbox_state(answered) == "sent", timeout=60)
    (sent,) = graph.replies_to(answered)
    statuses = [{"id": sent.id, "status": s, "timestamp": "1700000100"}
                for s in ("sent", "delivered", "read")]  # fmt: skip
    post(hook, delivery(PHONE, statuses=statuses))
    graph.fail(Fail(401, code=190))  # an expired access token
    post(hook, delivery(PHONE, [text_message(refused, "15550400002", "Prices?")]))
    wait_for(lambda: inbox_state(refused) == "failed", timeout=60)

    listed = httpx.get(route, headers=bearer(bot.user_id)).json()["connections"]
    (shown,) = listed
    assert shown["verified"] and shown["webhook_url"] == hook
    assert "token" not in str(shown).lower().replace("verify_token", "")
    page.goto(f"{base}/playground#access_token={token(bot.user_id)}&chatbot={bot.id}")
    panel = page.locator("#whatsapp")
    expect(panel.locator("pre")).to_have_text(hook)
    expect(panel.locator(".verified")).to_contain_text("Verified by Meta")
    rows = panel.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("not sent")
    expect(rows.nth(0)).to_contain_text("190")
    expect(rows.nth(1)).to_contain_text("replied, read")
    panel.scroll_into_view_if_needed()
    shoot(page, "whatsapp-panel.png")


pytestmark = NEEDS_CHROMIUM
