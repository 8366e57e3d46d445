"""The HTTP API keeps tenants apart (test plan §6.5 T1, T4, T5, T9). Two users with identical
documents; only B's chatbot knows a secret, in a document and in an FAQ. Whatever A sends, A
gets A's rows or a refusal; rejected input costs no embedding and stores no message."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import messages as messages_db
from db.chatbots import Chatbot
from intaj.http import create_app
from pipeline.embed import Embedder
from tests.fix_api import SERVICE_KEY, api_settings, bearer, token, unsigned_token
from tests.knowledge import add_document, add_faqs, tenants
from tests.servers.asgi import serving

SHARED = [
    "Every bike rental includes a free helmet and a D-lock.",
    "Returning a rental bike late costs 15 dollars for every started half hour.",
]
SECRET = "The vault code for the Riverside safe is 7319-ALPHA."
SECRET_FAQ = ("What is the vault code of the Riverside safe?", "It is 7319-ALPHA.")


@dataclass
class World:
    url: str
    a: Chatbot
    b: Chatbot
    a_source: str
    b_source: str

    def post(self, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def world(pool: ConnectionPool, settings: Settings, embedder: Embedder) -> Iterator[World]:
    with tenants(pool, "tenant-a", "tenant-b") as (a, b):
        a_source = add_document(pool, embedder, a, "rentals.txt", SHARED)
        b_source = add_document(pool, embedder, b, "rentals.txt", SHARED)
        add_document(pool, embedder, b, "safe.txt", [SECRET])
        add_faqs(pool, embedder, b, [SECRET_FAQ])
        with serving(create_app(api_settings(settings), pool=pool)) as url:
            yield World(url, a, b, a_source, b_source)


def search(world: World, bot: str, query: str, headers: dict[str, str], **body: Any) -> Any:
    return world.post(f"/v1/chatbots/{bot}/search", {"query": query, **body}, headers)


def contents(response: httpx.Response) -> str:
    return str(response.json())


def test_health_and_the_openapi_schema_are_served(world: World) -> None:
    assert httpx.get(world.url + "/healthz").json() == {"status": "ok"}
    schema = httpx.get(world.url + "/openapi.json").json()
    assert {"/v1/chatbots/{chatbot_id}/messages", "/v1/chatbots/{chatbot_id}/search"} <= set(
        schema["paths"]
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {token(str(uuid.uuid4()), secret='x' * 40)}"},
        {"Authorization": f"Bearer {token(str(uuid.uuid4()), exp=int(time.time()) - 60)}"},
        {"Authorization": f"Bearer {token(str(uuid.uuid4()), aud='anon')}"},
        {"Authorization": f"Bearer {token('service_role')}"},
    ],
    ids=["none", "bad-key", "garbage", "bad-signature", "expired", "audience", "no-user"],
)  # fmt: skip
def test_requests_without_valid_credentials_get_401(world: World, headers: dict[str, str]) -> None:
    response = search(world, world.a.id, "helmet", headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_an_unsigned_token_is_refused_even_for_the_owner(world: World) -> None:
    headers = {"Authorization": f"Bearer {unsigned_token(world.b.user_id)}"}
    assert search(world, world.b.id, SECRET, headers).status_code == 401


def test_t1_a_never_reaches_bs_rows(world: World, embedder: Embedder) -> None:
    a, b = world.a, world.b
    alice = bearer(a.user_id)
    # B's chatbot id in the path: the same 404 as a chatbot that does not exist
    refused = [
        search(world, b.id, SECRET, alice),
        world.post(f"/v1/chatbots/{b.id}/messages", {"message": SECRET}, alice),
        search(world, str(uuid.uuid4()), SECRET, alice),
        search(world, "not-a-uuid", SECRET, alice),
    ]
    assert {r.status_code for r in refused} == {404}
    assert len({r.text for r in refused}) == 1
    # B's id in the body, in a header, in the token's user_metadata; or no id at all
    assert search(world, a.id, SECRET, alice, chatbot_id=b.id).status_code == 422
    in_header = search(world, a.id, SECRET, {**alice, "X-Chatbot-Id": b.id})
    metadata = bearer(a.user_id, user_metadata={"chatbot_id": b.id})
    in_token = search(world, a.id, SECRET, metadata)
    assert search(world, b.id, SECRET, metadata).status_code == 404
    assert world.post("/v1/chatbots//search", {"query": SECRET}, alice).status_code == 404
    assert world.post("/v1/chatbots/search", {"query": SECRET}, alice).status_code in (404, 405)
    asked = world.post(f"/v1/chatbots/{a.id}/messages", {"message": SECRET}, alice)
    for response in (in_header, in_token, asked):
        assert response.status_code == 200
        assert "7319" not in contents(response)
        assert all(h["source"].startswith(a.id) for h in response.json().get("hits", []))
    # B itself, and a service key, do find the secret: it is there to be leaked
    assert "7319" in contents(search(world, b.id, SECRET, bearer(b.user_id)))
    assert "7319" in contents(search(world, b.id, SECRET, {"X-API-Key": SERVICE_KEY}))


INJECTIONS: list[Any] = [
    {"')::text IS NOT NULL OR pg_sleep(1) IS NOT NULL --": True},
    {"a' OR '1'='1": "x"},
    {"chatbot_id": "B"},
    {"$or": [{"chatbot_id": "B"}, {"kinds": ["faq"]}]},
    {"source_ids": {"$ne": None}},
    {"source_ids": ["' OR 1=1 --"]},
    {"source_types": ["txt' OR '1'='1"]},
    {"source_types": ["txt\x00"]},
    {"source_types": ["%", "_"]},
    {"source_types": ['"\\']},
    {"kinds": ["faq' OR 1=1 --"]},
    {"kinds": [["faq"]]},
    {f"key{i}": i for i in range(10_000)},
    {"source_types": ["a" * 1_000_000]},
    "source_ids IS NOT NULL",
]


@pytest.mark.parametrize("filters", INJECTIONS, ids=[str(i) for i in range(len(INJECTIONS))])
def test_t4_filter_injection_is_rejected_before_any_work(
    world: World, embedder: Embedder, filters: Any
) -> None:
    calls = getattr(embedder, "calls", 0)
    response = search(world, world.a.id, SECRET, bearer(world.a.user_id), filters=filters)
    # Refused by validation (422) or the body limit (413): no query ran, so pg_sleep never ran.
    assert response.status_code in (413, 422)
    assert getattr(embedder, "calls", 0) == calls
    assert "7319" not in response.text


def test_t4_filters_only_narrow_the_callers_own_rows(world: World) -> None:
    alice = bearer(world.a.user_id)
    theirs = search(world, world.a.id, SECRET, alice, filters={"source_ids": [world.b_source]})
    mine = search(world, world.a.id, "helmet", alice, filters={"source_ids": [world.a_source]})
    faqs = search(world, world.a.id, SECRET_FAQ[0], alice, filters={"kinds": ["faq"]})
    assert theirs.json() == {"hits": []} and faqs.json() == {"hits": []}
    assert mine.json()["hits"][0]["content"] == SHARED[0]
    sql = search(world, world.a.id, "'); SELECT pg_sleep(2); --", alice)
    assert sql.status_code == 200 and sql.elapsed.total_seconds() < 2


def nest(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def raw_request(url: str, head: str, body: bytes = b"") -> str:
    """One HTTP/1.1 request on a socket; the status line of the reply."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_t5_oversized_and_malformed_input_is_refused_without_embedding(
    world: World, pool: ConnectionPool, embedder: Embedder
) -> None:
    a = world.a
    path = f"/v1/chatbots/{a.id}/messages"
    alice = bearer(a.user_id)
    calls = getattr(embedder, "calls", 0)
    with pool.connection() as conn:
        stored = messages_db.count(conn, chatbot_id=a.id)
    json_header = {**alice, "Content-Type": "application/json"}
    deep = b"[" * 20_000 + b"]" * 20_000
    cases = {
        "1 MB message": (413, world.post(path, {"message": "x" * 1_000_000}, alice)),
        "4,001 chars": (422, world.post(path, {"message": "x" * 4001}, alice)),
        "NUL": (422, world.post(path, {"message": "helmet\x00"}, alice)),
        "blank": (422, world.post(path, {"message": "   "}, alice)),
        "conversation": (422, world.post(path, {"message": "hi", "conversation_id": "1"}, alice)),
        "nested": (422, httpx.post(world.url + path, headers=json_header, content=deep)),
        "17 levels": (422, world.post(path, {"message": "hi", "x": nest(16)}, alice)),
        "not JSON": (422, httpx.post(world.url + path, headers=json_header, content=b"{m: 1")),
        "k=51": (422, search(world, a.id, "helmet", alice, k=51)),
        "k=0": (422, search(world, a.id, "helmet", alice, k=0)),
    }
    assert {name: r.status_code for name, (_, r) in cases.items()} == {
        name: status for name, (status, _) in cases.items()
    }
    assert all(r.json()["error"]["code"] in ("payload_too_large", "invalid_request")
               for name, (_, r) in cases.items() if name != "not JSON")  # fmt: skip
    assert cases["not JSON"][1].json()["error"]["code"] == "invalid_json"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {alice['Authorization']}\r\n"
        "Content-Type: application/json\r\n"
    )
    ten_mb = raw_request(world.url, head + "Content-Length: 10485760\r\n")
    chunk = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
    chunked = raw_request(world.url, head + "Transfer-Encoding: chunked\r\n", chunk * 4)
    assert ten_mb.endswith("413 Request Entity Too Large") and " 413 " in chunked
    assert getattr(embedder, "calls", 0) == calls
    with pool.connection() as conn:
        assert messages_db.count(conn, chatbot_id=a.id) == stored


def test_t9_bs_faq_never_answers_a(world: World) -> None:
    question = {"message": SECRET_FAQ[0]}
    theirs = world.post(f"/v1/chatbots/{world.b.id}/messages", question, bearer(world.b.user_id))
    mine = world.post(f"/v1/chatbots/{world.a.id}/messages", question, bearer(world.a.user_id))
    assert theirs.json()["answer"] == SECRET_FAQ[1] + " [1]"
    assert mine.status_code == 200 and "7319" not in mine.text
    assert all(c["source"].startswith(world.a.id) for c in mine.json()["citations"])
