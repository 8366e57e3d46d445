"""Nothing is lost when `intaj serve` dies after answering Meta 200: the delivery is in the
inbox before the 200, and the next server answers it, once. Two ways to die: at once (the row
still pending), and while the reply is being sent (the answer stored, the row claimed by the
dead process: taken again after its lease). Real processes, real SIGKILL."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from db.chatbots import Chatbot
from pipeline.embed import Embedder
from tests.fix_orchestration import wait_for
from tests.fix_whatsapp import (
    PHONE,
    add_connection,
    inbox_state,
    post,
    serve,
    shop_bot,
    wamid,
)
from tests.servers.graph_api import delivery, running_graph_api, text_message

LATE = "How much do I pay when I return a rented bike late?"
# while the Graph API is down, the dying server keeps retrying (it must not give up first)
RETRYING = {"INTAJ_WHATSAPP_SEND_ATTEMPTS": "20", "INTAJ_WHATSAPP_SEND_BACKOFF_SECONDS": "1"}


@pytest.fixture
def bot(pool: ConnectionPool, embedder: Embedder) -> Iterator[Chatbot]:
    with shop_bot(pool, embedder) as found:
        yield found


def reply_stored(pool: ConnectionPool, message: str) -> bool:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT reply IS NOT NULL AND state = 'working' FROM whatsapp_inbox"
            " WHERE wa_message_id = %s",
            (message,),
        ).fetchone()
    return bool(row and row[0])


def turns(pool: ConnectionPool, message: str) -> list[str]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT m.role FROM messages m JOIN whatsapp_inbox i ON i.chatbot_id = m.chatbot_id"
            " AND m.metadata->>'wa_message_id' = i.wa_message_id WHERE i.wa_message_id = %s"
            " ORDER BY m.created_at",
            (message,),
        ).fetchall()
    return [r[0] for r in rows]


def test_a_server_killed_after_its_200_loses_nothing_and_sends_once(
    bot: Chatbot, pool: ConnectionPool, tmp_path: Path
) -> None:
    out = add_connection(bot.id)
    path = f"/v1/whatsapp/{out['id']}/webhook"
    at_once, mid_send = wamid(), wamid()
    with running_graph_api() as graph:
        graph.down = True  # nothing the dying servers send gets through
        with serve(graph, tmp_path / "first.log", **RETRYING) as first:
            body = delivery(PHONE, [text_message(at_once, "15550300001", LATE)])
            assert post(first.base + path, body).status_code == 200
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
        assert inbox_state(at_once) in ("pending", "working")
        with serve(graph, tmp_path / "second.log", **RETRYING) as second:
            body = delivery(PHONE, [text_message(mid_send, "15550300002", LATE)])
            assert post(second.base + path, body).status_code == 200
            wait_for(lambda: second.alive() and reply_stored(pool, mid_send), timeout=60)
            second.proc.send_signal(signal.SIGKILL)
            second.proc.wait(10)
        assert graph.sent == []
        graph.down = False
        lease = {"INTAJ_WHATSAPP_LEASE_SECONDS": "2"}
        with serve(graph, tmp_path / "third.log", **lease) as third:
            for message in (at_once, mid_send):
                wait_for(lambda m=message: third.alive() and inbox_state(m) == "sent",  # type: ignore[misc]
                         timeout=60)  # fmt: skip
        for message in (at_once, mid_send):
            assert len(graph.replies_to(message)) == 1
            assert "5 euros" in graph.replies_to(message)[0].text
            assert turns(pool, message) == ["user", "assistant"]
