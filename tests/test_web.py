"""The playground's owner routes and the website widget's public routes over HTTP (the real
app under uvicorn, a really ingested chatbot): isolation between owners, origin checks, CORS,
rate limits, and what a visitor's browser may see. The browser itself: test_web_browser.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import chatbots as chatbots_db
from db import connections as connections_db
from intaj.http.origins import OriginError, normalize_origin
from intaj.http.ratelimit import KeyedLimiter, WidgetLimits
from intaj.web.launch import playground_url, with_session_key
from pipeline.embed import Embedder
from tests.cli import intaj
from tests.fix_api import SERVICE_KEY, bearer, sse_events
from tests.fix_web import LATE_QUESTION, POISON_QUESTION, Shop, served, shop, web_settings


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    pool: ConnectionPool,
    embedder: Embedder,
    prefect_server: None,
) -> Iterator[Shop]:
    with shop(tmp_path_factory.mktemp("web"), pool, embedder) as found:
        found.add_widget(pool, "main", [found.site.base])
        found.add_widget(pool, "limits", [found.site.base])
        yield found


@pytest.fixture(scope="module")
def base(settings: Settings, pool: ConnectionPool, world: Shop) -> Iterator[str]:
    limited = web_settings(settings, widget_ip_messages_per_minute=3, widget_messages_per_minute=5)
    with served(limited, pool) as url:
        yield url


def owner(world: Shop) -> dict[str, str]:
    return bearer(world.bot.user_id)


def widget_post(
    base: str, widget: str, origin: str | None, body: dict[str, Any], **headers: str
) -> httpx.Response:
    sent = {"Content-Type": "application/json", **headers}
    if origin:
        sent["Origin"] = origin
    return httpx.post(f"{base}/v1/widgets/{widget}/messages", json=body, headers=sent, timeout=60)


# --- the owner's view ------------------------------------------------------------------------


def test_an_owner_lists_only_their_own_chatbots_and_a_service_every_one(
    base: str, world: Shop
) -> None:
    mine = httpx.get(f"{base}/v1/chatbots", headers=owner(world)).json()["chatbots"]
    assert world.bot.id in [b["id"] for b in mine]
    assert world.rival.id not in [b["id"] for b in mine]
    theirs = httpx.get(f"{base}/v1/chatbots", headers=bearer(world.rival.user_id)).json()
    assert [b["id"] for b in theirs["chatbots"]] == [world.rival.id]
    every = httpx.get(f"{base}/v1/chatbots", headers={"X-API-Key": SERVICE_KEY}).json()
    assert {world.bot.id, world.rival.id} <= {b["id"] for b in every["chatbots"]}
    assert httpx.get(f"{base}/v1/chatbots").status_code == 401


def test_an_owner_sets_a_chatbot_language_and_no_one_else_can(
    base: str, world: Shop, pool: ConnectionPool
) -> None:
    with pool.connection() as conn:
        new = chatbots_db.create(
            conn, user_id=world.bot.user_id, name=f"lang-{uuid.uuid4().hex[:6]}"
        )
    url = f"{base}/v1/chatbots/{new.id}/language"
    try:
        reply = httpx.put(url, json={"language": "ar"}, headers=owner(world), timeout=60)
        assert reply.status_code == 200, reply.text
        assert reply.json()["language"] == "ar" and reply.json()["previous"] == "en"
        assert reply.json()["text_search"] == "intaj_arabic"
        assert reply.json()["embedding_model"] == "intfloat/multilingual-e5-small"
        listed = httpx.get(f"{base}/v1/chatbots", headers=owner(world)).json()["chatbots"]
        assert {b["id"]: b["language"] for b in listed}[new.id] == "ar"
        other = httpx.put(url, json={"language": "en"}, headers=bearer(world.rival.user_id))
        assert other.status_code == 404
        wrong = httpx.put(url, json={"language": "fr"}, headers=owner(world))
        assert wrong.status_code == 422
    finally:
        with pool.connection() as conn:
            chatbots_db.delete(conn, chatbot_id=new.id)


def test_sources_show_state_chunks_and_the_latest_run(base: str, world: Shop) -> None:
    reply = httpx.get(f"{base}/v1/chatbots/{world.bot.id}/sources", headers=owner(world))
    sources = {s["name"]: s for s in reply.json()["sources"]}
    assert set(sources) == {"northwind-handbook.pdf", "tyre-care.md"}
    pdf = sources["northwind-handbook.pdf"]
    assert pdf["status"] == "ready" and pdf["chunks"] > 0 and pdf["error"] is None
    assert pdf["run"]["status"] == "completed" and pdf["run"]["chunks"] == pdf["chunks"]
    assert pdf["run"]["finished_at"] is not None


def test_faqs_and_widgets_are_listed_for_their_owner(base: str, world: Shop) -> None:
    faqs = httpx.get(f"{base}/v1/chatbots/{world.bot.id}/faqs", headers=owner(world)).json()
    assert [f["question"] for f in faqs["faqs"]] == [POISON_QUESTION]
    widgets = httpx.get(f"{base}/v1/chatbots/{world.bot.id}/widgets", headers=owner(world))
    assert {w["id"] for w in widgets.json()["widgets"]} == set(world.widgets.values())
    assert all(w["allowed_origins"] == [world.site.base] for w in widgets.json()["widgets"])


def test_a_cited_passage_opens_whole_for_its_owner_only(base: str, world: Shop) -> None:
    reply = httpx.post(
        f"{base}/v1/chatbots/{world.bot.id}/messages",
        json={"message": LATE_QUESTION},
        headers=owner(world),
        timeout=60,
    ).json()
    first = reply["citations"][0]
    assert first["source"].endswith("northwind-handbook.pdf") and first["metadata"]["page"] == 3
    path = f"/v1/chatbots/{world.bot.id}/passages/{first['chunk_id']}"
    passage = httpx.get(base + path, headers=owner(world)).json()
    assert passage["source_name"] == "northwind-handbook.pdf"
    assert passage["metadata"]["page"] == 3
    assert first["snippet"].rstrip("…").split()[0] in passage["content"]
    assert len(passage["content"]) >= len(first["snippet"].rstrip("…"))
    # another owner gets nothing of it, nor of anything under the chatbot
    for route in ("sources", "faqs", "widgets", f"passages/{first['chunk_id']}"):
        refused = httpx.get(
            f"{base}/v1/chatbots/{world.bot.id}/{route}", headers=bearer(world.rival.user_id)
        )
        assert refused.status_code == 404, route
    # nor does its own chatbot's path reach a chunk of another chatbot
    rival_path = f"/v1/chatbots/{world.rival.id}/passages/{first['chunk_id']}"
    assert httpx.get(base + rival_path, headers=bearer(world.rival.user_id)).status_code == 404


# --- the widget ----------------------------------------------------------------------------


def test_the_widget_answers_its_own_origin_only(
    base: str, world: Shop, pool: ConnectionPool
) -> None:
    widget, allowed, foreign = world.widgets["main"], world.site.base, world.foreign.base
    config = httpx.get(f"{base}/v1/widgets/{widget}", headers={"Origin": allowed})
    assert config.status_code == 200
    assert config.json() == {"name": world.bot.name, "link_hosts": ["northwind.example"]}
    assert config.headers["access-control-allow-origin"] == allowed
    for origin in (foreign, None, allowed + ".evil", allowed.replace("http:", "https:")):
        refused = httpx.get(
            f"{base}/v1/widgets/{widget}", headers={"Origin": origin} if origin else {}
        )
        assert refused.status_code == 403, origin
        assert refused.json()["error"]["code"] == "origin_not_allowed"
    # a preflight from the foreign page gets no CORS grant: its browser never sends the message
    pre = httpx.options(
        f"{base}/v1/widgets/{widget}/messages",
        headers={"Origin": foreign, "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
    pre = httpx.options(
        f"{base}/v1/widgets/{widget}/messages",
        headers={"Origin": allowed, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == allowed
    assert "Content-Type" in pre.headers["access-control-allow-headers"]
    # and the message itself, sent anyway, is refused before any work
    before = _messages(pool, world.bot.id)
    sent = widget_post(base, widget, foreign, {"message": LATE_QUESTION})
    assert sent.status_code == 403 and _messages(pool, world.bot.id) == before


def test_a_widget_answer_streams_with_public_citations_and_keeps_its_conversation(
    base: str, world: Shop, pool: ConnectionPool
) -> None:
    widget, origin = world.widgets["main"], world.site.base
    reply = widget_post(base, widget, origin, {"message": LATE_QUESTION},
                        **{"X-Forwarded-For": "10.9.0.1"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["access-control-allow-origin"] == origin
    events = sse_events(reply.text)
    assert [e for e, _ in events][-1] == "done"
    done = events[-1][1]
    assert "".join(d["text"] for e, d in events if e == "delta") == done["answer"]
    assert set(done) == {"answer", "citations", "abstained", "conversation_id"}
    first = done["citations"][0]
    assert first["source"] == "northwind-handbook.pdf" and first["metadata"]["page"] == 3
    assert set(first) == {"number", "source", "metadata", "snippet"}  # no path, id or score
    assert world.bot.id not in json.dumps(done)
    again = widget_post(
        base, widget, origin,
        {"message": "And for two hours?", "conversation_id": done["conversation_id"]},
        **{"X-Forwarded-For": "10.9.0.1"},
    )  # fmt: skip
    assert again.status_code == 200
    assert sse_events(again.text)[-1][1]["conversation_id"] == done["conversation_id"]
    with pool.connection() as conn:
        turns = conn.execute(
            "SELECT count(*) FROM messages WHERE chatbot_id = %s AND conversation_id = %s",
            (world.bot.id, done["conversation_id"]),
        ).fetchone()
    assert turns == (4,)


def test_widget_messages_are_limited_per_client_ip_and_per_widget(base: str, world: Shop) -> None:
    widget, origin = world.widgets["limits"], world.site.base

    def send(ip: str) -> httpx.Response:
        return widget_post(base, widget, origin, {"message": POISON_QUESTION},
                           **{"X-Forwarded-For": ip})  # fmt: skip

    assert [send("10.0.0.1").status_code for _ in range(3)] == [200, 200, 200]
    over = send("10.0.0.1")  # a fourth message from the same visitor within the minute
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "rate_limited"
    assert int(over.headers["retry-after"]) >= 1
    assert over.headers["access-control-allow-origin"] == origin  # the widget can show it
    assert over.headers["access-control-expose-headers"] == "Retry-After"
    assert [send("10.0.0.2").status_code for _ in range(2)] == [200, 200]  # 5 for the widget
    third = send("10.0.0.3")  # a new visitor, but the widget has had its 5
    assert third.status_code == 429 and third.json()["error"]["code"] == "rate_limited"
    other = widget_post(base, world.widgets["main"], origin, {"message": POISON_QUESTION},
                        **{"X-Forwarded-For": "10.0.0.3"})  # fmt: skip
    assert other.status_code == 200  # other widgets keep their own limits


def test_a_foreign_or_inactive_or_unknown_widget_gets_nothing(
    base: str, world: Shop, pool: ConnectionPool
) -> None:
    origin = world.site.base
    assert widget_post(base, str(uuid.uuid4()), origin, {"message": "hi"}).status_code == 404
    assert widget_post(base, "not-a-uuid", origin, {"message": "hi"}).status_code == 404
    extra = world.add_widget(pool, "inactive", [origin])
    with pool.connection() as conn:
        conn.execute("UPDATE connections SET active = false WHERE id = %s", (extra,))
    assert widget_post(base, extra, origin, {"message": "hi"}).status_code == 404
    # the rival's widget answers from the rival's knowledge only
    rival = widget_post(base, world.rival_widget, origin, {"message": LATE_QUESTION})
    done = sse_events(rival.text)[-1][1]
    assert all(c["source"] == "rival-prices.txt" for c in done["citations"])


def test_widget_input_is_checked_like_the_api(base: str, world: Shop) -> None:
    widget, origin = world.widgets["main"], world.site.base
    for body in ({"message": ""}, {"message": "x" * 4001}, {"message": "hi", "stream": False},
                 {"message": "hi", "conversation_id": "nope"}):  # fmt: skip
        reply = widget_post(base, widget, origin, body, **{"X-Forwarded-For": "10.7.0.1"})
        assert reply.status_code == 422, body


def _messages(pool: ConnectionPool, chatbot_id: str) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM messages WHERE chatbot_id = %s", (chatbot_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


# --- the command line and the pure parts ------------------------------------------------------


def test_intaj_widget_add_checks_origins_and_prints_the_tag(
    world: Shop, pool: ConnectionPool
) -> None:
    code, out = intaj("widget", "add", "--chatbot", world.bot.name, "--origin", "ftp://x")
    assert code == 2 and "not an origin" in out
    code, out = intaj(
        "widget", "add", "--chatbot", world.bot.name, "--origin", "HTTPS://Shop.Example:443/",
        "--origin", "http://127.0.0.1:8080", "--server", "https://chat.example", "--json",
    )  # fmt: skip
    assert code == 0, out
    assert out["allowed_origins"] == ["https://shop.example", "http://127.0.0.1:8080"]
    assert out["snippet"] == (
        f'<script src="https://chat.example/static/widget.js" data-chatbot="{out["id"]}"'
        " async></script>"
    )
    code, listed = intaj("widget", "list", "--chatbot", world.bot.name, "--json")
    assert code == 0 and out["id"] in [w["id"] for w in listed]
    with pool.connection() as conn:
        found = connections_db.widget(conn, widget_id=out["id"])
        conn.execute("DELETE FROM connections WHERE id = %s", (out["id"],))
    assert found is not None and found.chatbot_id == world.bot.id


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:8080/", "http://shop.example:8080"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_origins_are_written_as_browsers_send_them(given: str, origin: str) -> None:
    assert normalize_origin(given) == origin


@pytest.mark.parametrize(
    "bad", ["shop.example", "javascript:alert(1)", "https://shop.example/page", "https://u@x.io",
            "https://", "https://x.io:99999", "file:///etc/passwd"],
)  # fmt: skip
def test_anything_but_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(OriginError):
        normalize_origin(bad)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_limits_refill_with_time_and_forget_the_least_recent_key() -> None:
    clock = Clock()
    limits = WidgetLimits(per_widget=4, per_ip=2, clock=clock)
    assert [limits.take(widget_id="w", client_ip="a") for _ in range(3)][:2] == [0, 0]
    assert limits.take(widget_id="w", client_ip="a") == pytest.approx(30.0)  # 2/min: 30 s
    clock.now += 30
    assert limits.take(widget_id="w", client_ip="a") == 0
    keyed = KeyedLimiter(per_minute=1, max_keys=2, clock=clock)
    assert [keyed.take(k) for k in ("x", "y", "x", "z")][:3] == [0, 0, pytest.approx(60.0)]
    assert keyed.take("y") == 0  # y was the least recent: forgotten, starts full again


def test_serve_hands_out_a_one_off_key_only_when_none_is_configured(settings: Settings) -> None:
    bare = settings.model_copy(update={"service_api_keys": [], "jwt_secret": None})
    armed, key = with_session_key(bare)
    assert key and [k.get_secret_value() for k in armed.service_api_keys] == [key]
    assert with_session_key(web_settings(settings)) == (web_settings(settings), None)
    url = playground_url("0.0.0.0", 8000, key=key, chatbot="c 1")
    assert url == f"http://127.0.0.1:8000/playground#key={key}&chatbot=c%201"
    assert playground_url("::1", 9, key=None) == "http://[::1]:9/playground"


def test_the_static_front_end_is_served_for_any_site(base: str) -> None:
    widget = httpx.get(f"{base}/static/widget.js")
    assert widget.status_code == 200 and "javascript" in widget.headers["content-type"]
    assert widget.headers["access-control-allow-origin"] == "*"
    page = httpx.get(f"{base}/playground")
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_package_ships_the_front_end() -> None:
    from intaj.http import playground

    names = {p.name for p in Path(playground.STATIC).iterdir()}
    assert {"playground.html", "playground.js", "widget.js", "widget-app.js", "render.js",
            "api.js", "playground.css", "widget.css"} <= names  # fmt: skip


def test_chatbots_list_for_a_user_is_theirs_only(world: Shop, pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        mine = chatbots_db.list_for(conn, user_id=world.rival.user_id)
    assert [b.id for b in mine] == [world.rival.id]


def test_a_wrong_method_says_which_ones_the_route_takes(base: str, world: Shop) -> None:
    reply = httpx.put(f"{base}/v1/chatbots/{world.bot.id}/messages", headers=owner(world))
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert reply.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("route", "body"),
    [("messages", {"message": "hi", "stream": "yes"}), ("messages", {"message": "hi", "stream": 0}),
     ("search", {"query": "helmet", "k": True}), ("search", {"query": "helmet", "k": "5"})],
)  # fmt: skip
def test_types_are_strict_a_string_or_number_is_no_bool_and_no_count(
    base: str, world: Shop, route: str, body: dict[str, Any]
) -> None:
    url = f"{base}/v1/chatbots/{world.bot.id}/{route}"
    reply = httpx.post(url, json=body, headers=owner(world), timeout=30)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "invalid_request"
