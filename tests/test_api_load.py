"""The HTTP API under concurrent load, and pooled connections between tenants (test plan §6.5
T6, T7).

T6: ten owners, each with a chatbot whose document says the same things about its own shop
(the Alder shop, the Birch shop, ...). A hundred searches and questions arrive at once, then
five hundred with at most a hundred in flight, each asked by its chatbot's owner; the queries
are the same for every chatbot, so each chatbot's neighbours in the index are the other
chatbots' near-identical chunks. No reply is a 5xx, no request times out waiting for a pooled
connection, and every hit and citation is the asking chatbot's own (its storage key starts
with the chatbot's id, its text names the chatbot's shop).

T7: with one pooled connection, a search for chatbot A fails inside its transaction, after it
has set its HNSW settings; the next request, for chatbot B, gets the same connection and
finds it clean: no transaction open, the settings back at their defaults, only B's rows.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import open_pool
from db.chatbots import Chatbot
from db.connection import close_pools, database_url
from intaj.http import create_app
from pipeline.embed import Embedder
from retrieval.search import search
from tests.fix_api import api_settings, bearer
from tests.knowledge import add_document, tenants
from tests.servers.asgi import serving

SHOPS = ["Alder", "Birch", "Cedar", "Damson", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy", "Juniper"]
QUESTIONS = [
    "How much is the late fee for a rented bike?",
    "When does the shop open in the morning?",
    "Do rentals come with a helmet?",
]


def corpus(shop: str, n: int) -> list[str]:
    return [
        f"At the {shop} shop the late fee for a rented bike is {n + 2} dollars per started hour.",
        f"The {shop} shop opens at {7 + n % 3} in the morning and closes at six in the evening.",
        f"Every rental at the {shop} shop comes with a helmet and a lock.",
    ]


@dataclass
class Fleet:
    url: str
    bots: list[Chatbot]


@pytest.fixture(scope="module")
def fleet(pool: ConnectionPool, settings: Settings, embedder: Embedder) -> Iterator[Fleet]:
    with tenants(pool, *(f"load-{s.lower()}" for s in SHOPS)) as bots:
        for n, (shop, bot) in enumerate(zip(SHOPS, bots, strict=True)):
            add_document(pool, embedder, bot, "shop.txt", corpus(shop, n))
        with serving(create_app(api_settings(settings), pool=pool)) as url:
            yield Fleet(url, bots)


async def fire(fleet: Fleet, total: int, in_flight: int) -> list[tuple[int, str, httpx.Response]]:
    """``total`` requests spread over the chatbots (three searches to one question), at most
    ``in_flight`` at a time. Returns (chatbot index, route, response) for each."""
    gate = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    plan = [(i % len(fleet.bots), "messages" if i % 4 == 0 else "search") for i in range(total)]
    random.Random(6).shuffle(plan)

    async with httpx.AsyncClient(base_url=fleet.url, limits=limits, timeout=120) as client:

        async def one(n: int, route: str, question: str) -> tuple[int, str, httpx.Response]:
            bot = fleet.bots[n]
            body = {"query": question} if route == "search" else {"message": question}
            async with gate:
                reply = await client.post(
                    f"/v1/chatbots/{bot.id}/{route}", json=body, headers=bearer(bot.user_id)
                )
            return n, route, reply

        return await asyncio.gather(
            *(one(n, route, QUESTIONS[i % 3]) for i, (n, route) in enumerate(plan))
        )


def own_only(fleet: Fleet, n: int, route: str, reply: dict[str, Any]) -> bool:
    """Whether everything ``reply`` shows is chatbot ``n``'s: its keys and its shop's name."""
    bot, shop = fleet.bots[n], SHOPS[n]
    shown = reply["hits"] if route == "search" else reply["citations"]
    text = str(reply)
    return (
        all(item["source"].startswith(f"{bot.id}/") for item in shown)
        and all(f"{s} shop" not in text for s in SHOPS if s != shop)
        and (f"{shop} shop" in text or (route == "messages" and reply["abstained"]))
    )


@pytest.mark.parametrize(
    ("total", "in_flight"), [(100, 100), pytest.param(500, 100, marks=pytest.mark.slow)]
)
def test_concurrent_requests_of_ten_tenants_each_see_only_their_own(
    fleet: Fleet, pool: ConnectionPool, total: int, in_flight: int
) -> None:
    timeouts_before = pool.get_stats().get("requests_errors", 0)
    replies = asyncio.run(fire(fleet, total, in_flight))
    assert len(replies) == total
    statuses = {r.status_code for _, _, r in replies}
    assert statuses == {200}, [r.text for _, _, r in replies if r.status_code != 200][:3]
    assert pool.get_stats().get("requests_errors", 0) == timeouts_before  # no pool timeouts
    leaks = [(n, route) for n, route, r in replies if not own_only(fleet, n, route, r.json())]
    assert leaks == []
    answered = [r.json() for _, route, r in replies if route == "messages"]
    assert sum(not a["abstained"] for a in answered) > len(answered) // 2
    assert all(r.json()["hits"] for _, route, r in replies if route == "search")


@pytest.fixture
def one_connection(settings: Settings) -> Iterator[ConnectionPool]:
    """The product's pool, with a single connection, to the session's database (a URL of its
    own, so a pool of its own)."""
    url = make_conninfo(database_url(settings), application_name="intaj-t7")
    yield open_pool(settings.model_copy(update={"database_url": url, "pool_max_size": 1}))
    close_pools(url)


def connection_state(pool: ConnectionPool) -> tuple[int, TransactionStatus, str, str]:
    with pool.connection() as conn:
        pid, status = conn.info.backend_pid, conn.info.transaction_status
        row = conn.execute(
            "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"
        ).fetchone()
    assert row is not None
    return pid, status, row[0], row[1]


def test_a_failed_request_leaves_nothing_on_the_pooled_connection(
    one_connection: ConnectionPool, settings: Settings, embedder: Embedder
) -> None:
    pool = one_connection
    with tenants(pool, "t7-a", "t7-b") as (a, b):
        add_document(pool, embedder, a, "a.txt", corpus("Alder", 0))
        add_document(pool, embedder, b, "b.txt", corpus("Birch", 1))
        pid, _, ef_search, iterative_scan = connection_state(pool)
        assert (ef_search, iterative_scan) == ("40", "off")  # the server's defaults

        # A's search sets hnsw.ef_search and hnsw.iterative_scan for its transaction, then
        # its statement fails there (a query vector of the wrong dimension).
        with pytest.raises(psycopg.errors.DataException, match="dimensions"):
            search(pool, settings, chatbot=a, query="late fee",
                   query_vector=np.ones(3, dtype=np.float32))  # fmt: skip

        with serving(create_app(api_settings(settings), pool=pool)) as url:
            reply = httpx.post(
                f"{url}/v1/chatbots/{b.id}/search",
                json={"query": "How much is the late fee?"},
                headers=bearer(b.user_id),
            )
        assert reply.status_code == 200
        hits = reply.json()["hits"]
        assert hits and all(h["source"].startswith(f"{b.id}/") for h in hits)
        assert "Alder" not in reply.text
        assert connection_state(pool) == (pid, TransactionStatus.IDLE, "40", "off")
