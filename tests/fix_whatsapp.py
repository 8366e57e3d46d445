"""What the WhatsApp tests share: a chatbot with a tiny knowledge base (one document, one FAQ;
the real model), `intaj serve` as a child process pointed at the fake Graph API, and signed
posts to a connection's webhook."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import ConnectionPool

from core.settings import get_settings
from db import open_pool
from db.chatbots import Chatbot
from pipeline.embed import Embedder
from tests.cli import intaj
from tests.fix_orchestration import child_env, free_port, intaj_cmd, process, wait_for
from tests.knowledge import add_document, add_faqs, tenants
from tests.servers.graph_api import GraphServer, signature

PHONE = "106540352242922"
TOKEN = "EAAtest-access-token-0123456789"
APP_SECRET = "app-secret-0123456789abcdef"
VERIFY = "verify-token-0123456789"
TERMS = [
    "Rental terms. A rented bike returned late costs 5 euros for each hour past the agreed"
    " time, up to 40 euros a day. Call the shop before the end of your rental to extend it.",
]
FAQS = [("What are your opening hours?", "We are open 9 to 18, Monday to Saturday.")]


@dataclass
class Served:
    base: str
    proc: Any
    log: Path

    def alive(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        return True


@contextmanager
def shop_bot(pool: ConnectionPool, embedder: Embedder) -> Iterator[Chatbot]:
    with tenants(pool, f"wa-shop-{uuid.uuid4().hex[:6]}") as (bot,):
        add_document(pool, embedder, bot, "rental-terms.txt", TERMS)
        add_faqs(pool, embedder, bot, FAQS)
        yield bot


@contextmanager
def serve(graph: GraphServer, log: Path, **env: str) -> Iterator[Served]:
    """`intaj serve` on a free port, its sends going to ``graph``; stopped afterwards."""
    port = free_port()
    settings = {
        "INTAJ_WHATSAPP_GRAPH_URL": graph.base_url,
        "INTAJ_WHATSAPP_SEND_BACKOFF_SECONDS": "0.05",
        "INTAJ_WHATSAPP_POLL_SECONDS": "0.5",
        **env,
    }
    with process(intaj_cmd("serve", "--port", str(port)), child_env(**settings), log) as proc:
        served = Served(f"http://127.0.0.1:{port}", proc, log)
        wait_for(lambda: served.alive() and _healthy(served.base), timeout=90, every=0.2)
        yield served


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def add_connection(chatbot_id: str) -> dict[str, Any]:
    """``intaj connection add --platform whatsapp`` with the test credentials: its JSON."""
    code, out = intaj(
        "connection", "add", "--platform", "whatsapp", "--chatbot", chatbot_id,
        "--phone-number-id", PHONE, "--access-token", TOKEN, "--app-secret", APP_SECRET,
        "--verify-token", VERIFY, "--json",
    )  # fmt: skip
    assert code == 0, out
    result: dict[str, Any] = out
    return result


def wamid() -> str:
    return f"wamid.test-{uuid.uuid4().hex}"


def post(hook: str, body: bytes, signed: str | bool | None = True) -> httpx.Response:
    """POST ``body`` to the webhook, signed with the app secret (or with ``signed``, or not at
    all when None)."""
    headers = {"Content-Type": "application/json"}
    if signed is True:
        headers["X-Hub-Signature-256"] = signature(APP_SECRET, body)
    elif isinstance(signed, str):
        headers["X-Hub-Signature-256"] = signed
    return httpx.post(hook, content=body, headers=headers, timeout=30)


def inbox_state(wa_message_id: str) -> str | None:
    with open_pool(get_settings()).connection() as conn:
        row = conn.execute(
            "SELECT state FROM whatsapp_inbox WHERE wa_message_id = %s", (wa_message_id,)
        ).fetchone()
    return None if row is None else str(row[0])
