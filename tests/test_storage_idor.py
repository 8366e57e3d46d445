"""S4 (reliability-test-plan §6.3): a chatbot's data source can read only its own stored files.

Storage keys are ``{chatbot_id}/{uuid}/{name}``. A data source row is written by the SaaS (or a
Supabase client) straight into ``data_sources``, so nothing stops tenant B from naming tenant A's
key there; the ingestion must refuse it (``forbidden``) before any byte is read, and write
nothing for B.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from psycopg_pool import ConnectionPool

from core.errors import SourceError
from core.settings import Settings
from db import sources as sources_db
from db.chatbots import Chatbot
from pipeline.sources import check_owner, storage_for, upload_key

A = "0b7a4d4e-5c3a-4c52-9a51-3f0d8e7c1a01"
B = "9c1e2f3a-1111-4222-8333-444455556666"


@pytest.mark.parametrize(
    "path",
    [
        f"{B}/0f0e/notes.txt",
        f"local://{B}/0f0e/notes.txt",
        f"s3://uploads/{B}/0f0e/notes.txt",
        f"supabase://uploads/{B}/0f0e/My notes.pdf",
        "https://example.com/page",  # a URL is not storage: the URL guard judges it
    ],
)
def test_a_chatbots_own_keys_and_urls_pass(path: str) -> None:
    check_owner(path, B)


@pytest.mark.parametrize(
    "path",
    [
        f"{A}/0f0e/secret.txt",
        f"local://{A}/0f0e/secret.txt",
        f"s3://uploads/{A}/0f0e/secret.txt",
        f"supabase://uploads/{A}/0f0e/secret.pdf",
        f"{B}/../{A}/0f0e/secret.txt",  # normalised away by a filesystem or a URL
        f"supabase://uploads/{B}/./../{A}/secret.pdf",
        f"supabase://{B}/{A}/secret.pdf",  # B's id as the bucket, not the key
        f"/{B}/x.txt",
        f"{B}//x.txt",
        f"{B}\\..\\{A}\\x.txt",
        f"{B}x/secret.txt",  # a prefix of another id is not the id
        B,
        "",
    ],
)
def test_another_chatbots_key_or_an_odd_key_is_forbidden(path: str) -> None:
    with pytest.raises(SourceError) as info:
        check_owner(path, B)
    assert info.value.code == "forbidden"
    assert B in info.value.message


def test_tenant_b_cannot_ingest_tenant_a_stored_file(
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Callable[..., Chatbot],
    prefect_server: None,
) -> None:
    from flows.ingest import ingest_chatbot

    alice, mallory = make_chatbot(), make_chatbot()
    secret = b"Alice's supplier pays 3.20 per unit under contract NW-7781."
    key = upload_key(alice.id, "prices.txt")
    storage_for(key, settings).write(key, secret)
    with pool.connection() as conn:
        theirs = sources_db.add(conn, chatbot_id=alice.id, type="txt", path=key, name="p.txt")
        stolen = [  # mallory's rows naming alice's object, plainly and disguised
            sources_db.add(conn, chatbot_id=mallory.id, type="txt", path=path, name="p.txt")
            for path in (key, f"{mallory.id}/../{key}", f"local://{key}")
        ]

    results = ingest_chatbot(mallory.id)
    own = ingest_chatbot(alice.id)  # the owner's source of the same key ingests

    assert [r["status"] for r in results] == ["failed"] * 3
    assert own[0]["status"] == "ready"
    with pool.connection() as conn:
        for source in stolen:
            row = sources_db.get(conn, source_id=source.id)
            assert row is not None and row.error_code == "forbidden", row
        mallory_chunks = conn.execute(
            "SELECT count(*) FROM chunks WHERE chatbot_id = %s", (mallory.id,)
        ).fetchone()
        alice_chunks = conn.execute(
            "SELECT count(*) FROM chunks WHERE source_id = %s", (theirs.id,)
        ).fetchone()
    assert mallory_chunks == (0,)
    assert alice_chunks is not None and alice_chunks[0] >= 1
