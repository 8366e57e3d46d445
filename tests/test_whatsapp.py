"""The WhatsApp channel end to end: a real `intaj serve` (a child process, the session's
database), a real local fake of the Graph API (tests/servers/graph_api.py) and a chatbot with a
small knowledge base (one document, one FAQ; the real model). Deliveries are signed as Meta
signs them. The restart after SIGKILL is in test_whatsapp_restart.py (it needs this module's
server gone: every server shares the inbox)."""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from pipeline.embed import Embedder, get_embedder
from retrieval.language import detect
from tests.cli import intaj
from tests.fix_orchestration import wait_for
from tests.fix_whatsapp import (
    APP_SECRET,
    PHONE,
    TOKEN,
    VERIFY,
    Served,
    add_connection,
    inbox_state,
    post,
    serve,
    shop_bot,
    wamid,
)
from tests.knowledge import add_document, tenants
from tests.servers.graph_api import (
    Fail,
    GraphServer,
    delivery,
    running_graph_api,
    signature,
    text_message,
)

LATE = "How much do I pay when I return a rented bike late?"


@dataclass
class World:
    graph: GraphServer
    server: Served
    connection_id: str
    chatbot_id: str

    @property
    def hook(self) -> str:
        return f"{self.server.base}/v1/whatsapp/{self.connection_id}/webhook"


@pytest.fixture(scope="module")
def world(
    pool: ConnectionPool, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    logs = tmp_path_factory.mktemp("whatsapp")
    with shop_bot(pool, embedder) as bot, running_graph_api() as graph:
        out = add_connection(bot.id)
        assert out["webhook_url"].endswith(f"/v1/whatsapp/{out['id']}/webhook")
        assert out["verify_token"] is None  # given, so not printed back
        env = {"INTAJ_WHATSAPP_MESSAGES_PER_MINUTE": "1000"}
        with serve(graph, logs / "serve.log", **env) as server:
            yield World(graph, server, out["id"], bot.id)


def replies(world: World, message_id: str, count: int = 1) -> list[Any]:
    """The replies to ``message_id`` once its inbox row is done (no send can follow then)."""
    wait_for(lambda: world.server.alive() and inbox_state(message_id) in ("sent", "failed"),
             timeout=60)  # fmt: skip
    return world.graph.replies_to(message_id)


def test_the_handshake_echoes_the_challenge_for_the_right_token_only(
    world: World, pool: ConnectionPool
) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    right = httpx.get(world.hook, params=query)
    assert right.status_code == 200 and right.text == "1158201444"
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT verified_at FROM connections WHERE id = %s", (world.connection_id,)
        ).fetchone()
    assert row is not None and row[0] is not None
    wrong = httpx.get(world.hook, params={**query, "hub.verify_token": VERIFY + "x"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    other = f"{world.server.base}/v1/whatsapp/{uuid.uuid4()}/webhook"
    assert httpx.get(other, params=query).status_code == 404


def test_a_signed_text_gets_one_grounded_reply_quoting_it(
    world: World, pool: ConnectionPool
) -> None:
    message, sender = wamid(), "15550100001"
    reply = post(world.hook, delivery(PHONE, [text_message(message, sender, LATE)]))
    assert reply.status_code == 200 and reply.json()["received"] == 1
    (sent,) = replies(world, message)
    assert sent.to == sender and sent.phone_number_id == PHONE and sent.token == TOKEN
    assert "5 euros" in sent.text and "[1]" in sent.text
    assert "*Sources:*\n[1] rental-terms.txt" in sent.text
    with pool.connection() as conn:
        turns = conn.execute(
            "SELECT m.role, m.content, m.metadata FROM messages m JOIN whatsapp_inbox i"
            " ON i.conversation_id = m.conversation_id WHERE i.wa_message_id = %s"
            " ORDER BY m.created_at",
            (message,),
        ).fetchall()
    assert [(role, content) for role, content, _ in turns] == [
        ("user", LATE), ("assistant", sent.text)
    ]  # fmt: skip
    meta = turns[1][2]
    assert meta["citations"][0]["source"].endswith("rental-terms.txt")
    assert meta["whatsapp"] == {"delivery": "sent", "message_ids": [sent.id]}


def test_an_faq_answers_and_the_same_customer_stays_in_one_conversation(
    world: World, pool: ConnectionPool
) -> None:
    sender = "15550100002"
    first, second = wamid(), wamid()
    post(world.hook, delivery(PHONE, [text_message(first, sender, "When are you open?")]))
    (opening,) = replies(world, first)
    assert "9 to 18" in opening.text
    post(world.hook, delivery(PHONE, [text_message(second, sender, LATE)]))
    replies(world, second)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT count(DISTINCT conversation_id) FROM whatsapp_inbox WHERE wa_message_id"
            " = ANY(%s)",
            ([first, second],),
        ).fetchone()
    assert rows == (1,)


@pytest.mark.parametrize(
    "header", [None, "sha256=" + "0" * 64, "truncated", "sha256=abc", "other-secret"]
)
def test_a_wrong_missing_or_truncated_signature_is_refused_and_nothing_stored(
    world: World, header: str | None
) -> None:
    message = wamid()
    body = delivery(PHONE, [text_message(message, "15550100003", LATE)])
    if header == "truncated":
        header = signature(APP_SECRET, body)[:40]
    elif header == "other-secret":
        header = signature("not-the-app-secret", body)
    reply = post(world.hook, body, signed=header)
    assert reply.status_code == (401 if header is None else 403)
    assert inbox_state(message) is None


def test_a_body_changed_after_signing_is_refused(world: World) -> None:
    message = wamid()
    body = delivery(PHONE, [text_message(message, "15550100004", LATE)])
    forged = body.replace(b"15550100004", b"15550100009")
    assert post(world.hook, forged, signed=signature(APP_SECRET, body)).status_code == 403
    assert inbox_state(message) is None


def test_an_unknown_phone_number_id_is_404_and_nothing_stored(world: World) -> None:
    message = wamid()
    reply = post(world.hook, delivery("999000999", [text_message(message, "15550100005", LATE)]))
    assert reply.status_code == 404
    assert inbox_state(message) is None


def test_a_malformed_delivery_is_422_with_the_field_named(world: World) -> None:
    body = json.dumps({"object": "whatsapp_business_account", "entry": "nope"}).encode()
    reply = post(world.hook, body)
    assert reply.status_code == 422 and "entry" in reply.json()["error"]["message"]
    assert post(world.hook, b"{not json").status_code == 422


def test_the_same_delivery_five_times_and_three_at_once_is_answered_once(
    world: World,
) -> None:
    again, racing = wamid(), wamid()
    body = delivery(PHONE, [text_message(again, "15550100006", LATE)])
    codes = [post(world.hook, body).status_code for _ in range(5)]
    assert codes == [200] * 5
    body = delivery(PHONE, [text_message(racing, "15550100007", LATE)])
    with ThreadPoolExecutor(3) as pool:
        raced = list(pool.map(lambda _: post(world.hook, body).json()["received"], range(3)))
    assert sorted(raced) == [0, 0, 1]
    assert len(replies(world, again)) == 1
    assert len(replies(world, racing)) == 1


def test_429_twice_then_200_sends_one_reply(world: World) -> None:
    message = wamid()
    world.graph.fail(Fail(429, retry_after=0), Fail(429, retry_after=0))
    post(world.hook, delivery(PHONE, [text_message(message, "15550100008", LATE)]))
    assert len(replies(world, message)) == 1
    tries = [r for r in world.graph.requests if r["body"].get("context", {}).get("message_id")
             == message]  # fmt: skip
    assert len(tries) == 3
    assert inbox_state(message) == "sent"


def test_throughput_error_130429_and_a_500_are_retried(world: World) -> None:
    message = wamid()
    world.graph.fail(Fail(400, code=130429), Fail(503))
    post(world.hook, delivery(PHONE, [text_message(message, "15550100010", LATE)]))
    assert len(replies(world, message)) == 1


def test_a_send_that_finally_fails_is_marked_on_the_message(
    world: World, pool: ConnectionPool
) -> None:
    message = wamid()
    world.graph.fail(Fail(400, code=131047))  # outside the 24-hour window: not retried
    post(world.hook, delivery(PHONE, [text_message(message, "15550100011", LATE)]))
    assert replies(world, message) == []
    assert inbox_state(message) == "failed"
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT m.metadata->'whatsapp' FROM whatsapp_inbox i JOIN messages m"
            " ON m.id = i.reply_message_id WHERE i.wa_message_id = %s",
            (message,),
        ).fetchone()
    assert row is not None
    assert row[0]["delivery"] == "failed" and "131047" in row[0]["error"]


def test_non_text_messages_get_a_polite_reply_and_statuses_are_recorded(
    world: World, pool: ConnectionPool
) -> None:
    sender = "15550100012"
    kinds: dict[str, dict[str, Any]] = {
        "image": {"image": {"id": "media-1", "mime_type": "image/jpeg"}},
        "audio": {"audio": {"id": "media-2", "mime_type": "audio/ogg"}},
        "location": {"location": {"latitude": 24.7, "longitude": 46.7}},
        "reaction": {"reaction": {"message_id": "wamid.x", "emoji": "👍"}},
    }
    ids = {kind: wamid() for kind in kinds}
    messages = [{"from": sender, "id": ids[k], "timestamp": "1700000000", "type": k, **v}
                for k, v in kinds.items()]  # fmt: skip
    assert post(world.hook, delivery(PHONE, messages)).json()["received"] == 4
    for kind in kinds:
        (sent,) = replies(world, ids[kind])
        assert sent.text.startswith("Sorry, I can only read text messages")
    outbound = world.graph.replies_to(ids["image"])[0].id
    statuses = [{"id": outbound, "status": s, "timestamp": "1700000100", "recipient_id": sender}
                for s in ("sent", "delivered", "read")]  # fmt: skip
    assert post(world.hook, delivery(PHONE, statuses=statuses)).json()["statuses"] == 3
    assert post(world.hook, delivery(PHONE, statuses=statuses)).json()["statuses"] == 0
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT status FROM whatsapp_statuses WHERE wa_message_id = %s ORDER BY at, status",
            (outbound,),
        ).fetchall()
    assert sorted(r[0] for r in rows) == ["delivered", "read", "sent"]


def test_a_flood_from_one_number_is_limited_not_answered(world: World) -> None:
    sender = "15550100013"
    ids = [wamid() for _ in range(8)]
    flood = [text_message(i, sender, f"{LATE} ({n})") for n, i in enumerate(ids)]
    counts = post(world.hook, delivery(PHONE, flood)).json()
    assert counts["received"] == 8 and counts["limited"] == 2  # 6 a minute per sender
    assert [inbox_state(i) for i in ids[6:]] == ["limited", "limited"]
    for i in ids[:6]:
        assert len(replies(world, i)) == 1
    assert world.graph.replies_to(ids[6]) == world.graph.replies_to(ids[7]) == []


def test_a_burst_of_100_from_20_senders_gets_100_replies(world: World) -> None:
    senders = [f"1555020{n:04d}" for n in range(20)]
    burst = [(wamid(), senders[n % 20], f"{LATE} #{n}") for n in range(100)]
    posted: dict[str, float] = {}

    def deliver(item: tuple[str, str, str]) -> int:
        import time

        message, sender, text = item
        posted[message] = time.time()
        return post(world.hook, delivery(PHONE, [text_message(message, sender, text)])).status_code

    with ThreadPoolExecutor(8) as executor:
        assert set(executor.map(deliver, burst)) == {200}
    for message, _, _ in burst:
        replies(world, message)
    sent = {message: world.graph.replies_to(message) for message, _, _ in burst}
    assert sorted(len(s) for s in sent.values()) == [1] * 100  # 0 lost, 0 duplicates
    delays = sorted(sent[m][0].at - posted[m] for m in sent)
    p50, p95 = statistics.median(delays), delays[94]
    report = Path(world.server.log).parent / "burst.txt"
    report.write_text(f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {delays[-1]:.2f} s\n")
    print(f"\nWhatsApp burst of 100 from 20 senders: delivery to send p50 {p50:.2f} s,"
          f" p95 {p95:.2f} s, max {delays[-1]:.2f} s")  # fmt: skip


def test_the_webhook_is_in_the_openapi_schema_with_its_statuses(world: World) -> None:
    schema = httpx.get(f"{world.server.base}/openapi.json").json()
    post_op = schema["paths"]["/v1/whatsapp/{connection_id}/webhook"]["post"]
    assert {"200", "401", "403", "404", "422"} <= set(post_op["responses"])
    body = post_op["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["object", "entry"]
    get_op = schema["paths"]["/v1/whatsapp/{connection_id}/webhook"]["get"]
    assert {"200", "403", "404", "422"} <= set(get_op["responses"])


RETURNS_AR = "يمكنك إرجاع الدراجة المستأجرة خلال أربعة عشر يومًا من تاريخ الاستئجار إذا كانت سليمة."


@pytest.mark.slow  # loads the multilingual model here and in the server (~20 s more)
def test_an_arabic_message_is_answered_in_arabic_from_arabic_knowledge(
    world: World, pool: ConnectionPool, settings: Settings
) -> None:
    multilingual = get_embedder(settings, settings.multilingual_embedding_model)
    options = {"language": "intaj_arabic", "language_code": "ar"}
    with tenants(pool, f"wa-ar-{uuid.uuid4().hex[:6]}", **options) as (bot,):
        add_document(pool, multilingual, bot, "شروط-الإرجاع.txt", [RETURNS_AR])
        phone = "106540352249999"
        code, out = intaj(
            "connection", "add", "--platform", "whatsapp", "--chatbot", bot.id,
            "--phone-number-id", phone, "--access-token", TOKEN, "--app-secret", APP_SECRET,
            "--json",
        )  # fmt: skip
        assert code == 0 and len(out["verify_token"]) >= 16, out  # made, so printed
        hook = f"{world.server.base}/v1/whatsapp/{out['id']}/webhook"
        message = wamid()
        question = "كم يومًا لدي لإرجاع الدراجة المستأجرة؟"
        post(hook, delivery(phone, [text_message(message, "966500000001", question)]))
        (sent,) = replies(world, message)
    assert detect(sent.text) == "ar"
    assert "أربعة عشر" in sent.text and "*المصادر:*\n[1] شروط-الإرجاع.txt" in sent.text
