"""``GET /metrics`` (issue 27; docs/operations.md, "Metrics"): scraped from a real server after
real traffic (answers, an SSE stream, a 404, ingestion runs), its counters move; and 1,000
messages across 50 chatbots add no series: no label holds an id, so the series count stays
under the documented bound however many chatbots and messages there are."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db.chatbots import Chatbot
from intaj.http import create_app
from pipeline.embed import Embedder
from pipeline.run import job
from pipeline.sources import registration
from tests.fix_api import api_settings, bearer
from tests.knowledge import add_document, add_faqs, tenants
from tests.servers.asgi import serving

MESSAGES = "/v1/chatbots/{chatbot_id}/messages"
SERIES_BOUND = 5000  # docs/operations.md: what one server exposes, whatever the traffic
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> Samples:
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
        if s.name.startswith("intaj_")
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def shop(pool: ConnectionPool, settings: Settings, embedder: Embedder) -> Iterator[Chatbot]:
    with tenants(pool, "metrics-shop") as (bot,):
        add_document(pool, embedder, bot, "rentals.txt", [
            "Every bike rental includes a free helmet and a D-lock.",
            "Returning a rental bike late costs 15 dollars for every started half hour.",
        ])  # fmt: skip
        add_faqs(pool, embedder, bot, [("Do you rent tandem bikes?", "Yes, on weekends.")])
        yield bot


def test_the_counters_move_with_real_traffic(
    pool: ConnectionPool, settings: Settings, shop: Chatbot, tmp_path: Path
) -> None:
    auth = bearer(shop.user_id)
    with (
        serving(create_app(api_settings(settings), pool=pool)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        before = scrape(client)
        path = f"/v1/chatbots/{shop.id}/messages"
        for message in ("Does a rental include a helmet?", "Do you rent tandem bikes?",
                        "What is the capital of Mongolia?"):  # fmt: skip
            assert client.post(path, json={"message": message}, headers=auth).status_code == 200
        with client.stream("POST", path, json={"message": "Is a lock included?", "stream": True},
                           headers=auth) as streamed:  # fmt: skip
            assert streamed.headers["content-type"].startswith("text/event-stream")
            during = scrape(client)
            body = streamed.read().decode()
        assert "event: done" in body
        assert client.get("/no/such/route").status_code == 404
        good = tmp_path / "hours.txt"
        good.write_text("The shop opens at nine on weekdays and at ten on Sundays.")
        ready = registration.register(pool, settings, shop, str(good)).source
        assert ready is not None
        assert job.run_one(ready.id, job.PLAIN_STAGES)[0].status == "ready"
        (tmp_path / "gone.txt").write_text("soon gone")
        gone = registration.register(pool, settings, shop, str(tmp_path / "gone.txt")).source
        assert gone is not None
        with pool.connection() as conn:
            conn.execute("UPDATE data_sources SET path = 'no/such.txt' WHERE id = %s", (gone.id,))
        failed = job.run_one(gone.id, job.PLAIN_STAGES)[0]
        assert failed.status == "failed" and failed.code
        after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"method": "POST", "route": MESSAGES, "status": "200"}
    assert moved("intaj_http_requests_total", **ok) == 4
    assert moved("intaj_http_request_seconds_count", **ok) == 4
    assert moved("intaj_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert moved("intaj_answers_total", outcome="faq") >= 1
    assert moved("intaj_answers_total", outcome="abstained") >= 1
    assert moved("intaj_answers_total", outcome="extractive") >= 1
    # while the stream is open the gauge counts it (an extractive answer may already be done
    # when the scrape lands: at most one more, never fewer), and it is back down after
    opened = value(during, "intaj_sse_streams_open") - value(before, "intaj_sse_streams_open")
    assert opened in (0, 1)
    assert value(after, "intaj_sse_streams_open") == value(before, "intaj_sse_streams_open")
    assert moved("intaj_ingestion_runs_total", status="ready") == 1
    assert moved("intaj_ingestion_runs_total", status="failed") == 1
    assert moved("intaj_ingestion_failures_total", code=failed.code or "") == 1
    assert moved("intaj_embedded_chunks_total") >= 1
    assert moved("intaj_embedding_seconds_total") > 0
    queue = {status: value(after, "intaj_ingestion_queue", status=status)
             for status in ("pending", "processing", "ready", "failed")}  # fmt: skip
    assert queue["ready"] >= 1 and queue["failed"] >= 1


async def post_all(url: str, bots: list[Chatbot], total: int) -> list[int]:
    gate = asyncio.Semaphore(32)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

        async def one(i: int) -> int:
            bot = bots[i % len(bots)]
            async with gate:
                reply = await client.post(f"/v1/chatbots/{bot.id}/messages",
                                          json={"message": f"Question number {i}?"},
                                          headers=bearer(bot.user_id))  # fmt: skip
            return reply.status_code

        return await asyncio.gather(*(one(i) for i in range(total)))


def test_a_thousand_messages_across_fifty_chatbots_add_no_series(
    pool: ConnectionPool, settings: Settings
) -> None:
    names = [f"metrics-card-{i}" for i in range(50)]
    with (
        tenants(pool, *names) as bots,
        serving(create_app(api_settings(settings), pool=pool)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert set(asyncio.run(post_all(url, bots[:2], 20))) == {200}  # the route's series exist
        before = scrape(client)
        statuses = asyncio.run(post_all(url, bots, 1000))
        after = scrape(client)
    assert statuses.count(200) == 1000
    assert set(after) == set(before)  # the same series: none per chatbot, owner or message
    assert len(after) <= SERIES_BOUND
    ids = {b.id for b in bots} | {b.user_id for b in bots}
    shown: set[Any] = {v for _, labels in after for _, v in labels}
    assert not shown & ids
    ok = {"method": "POST", "route": MESSAGES, "status": "200"}
    assert (
        value(after, "intaj_http_requests_total", **ok)
        - value(before, "intaj_http_requests_total", **ok)
        == 1000
    )


def test_the_warm_worker_serves_its_metrics_and_says_when_the_port_is_taken(
    settings: Settings,
) -> None:
    from flows.worker_metrics import serve_metrics

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    on_port = settings.model_copy(update={"worker_metrics_port": port})
    said: list[str] = []
    server = serve_metrics(on_port, said.append)
    assert server is not None
    try:
        assert serve_metrics(on_port, said.append) is None  # taken: said, not fatal
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    assert said[0] == f"metrics at http://127.0.0.1:{port}/metrics"
    assert "is taken" in said[1]
    samples = {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for status in ("pending", "processing", "ready", "failed"):
        assert ("intaj_ingestion_queue", (("status", status),)) in samples
    assert ("intaj_answers_total", (("outcome", "abstained"),)) in samples
