"""Connections' credentials are encrypted at rest, bound to their row, masked on read, and
re-encrypted by a key rotation (reliability-test-plan K1, K2)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from core.crypto import CredentialError, Keyring, key_id, new_key
from db import connections as connections_db
from db import migrate
from db.chatbots import Chatbot
from db.connection import connect
from intaj.cli import app

CANARY = f"sk-canary-{uuid.uuid4().hex}"


def keyring() -> Keyring:
    return Keyring.from_text(new_key())


def stored(pool: ConnectionPool, connection_id: str) -> dict[str, str]:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT credentials FROM connections WHERE id = %s", (connection_id,)
        ).fetchone()
    assert row is not None
    return dict(row[0])


def test_credentials_are_sealed_at_rest_and_open_only_for_their_row(
    pool: ConnectionPool, make_chatbot: Callable[..., Chatbot]
) -> None:
    keys = keyring()
    a, b = make_chatbot(), make_chatbot()
    with pool.connection() as conn:
        mine = connections_db.add(
            conn, user_id=a.user_id, chatbot_id=a.id, platform="openai",
            credentials={"api_key": CANARY}, keyring=keys,
        )  # fmt: skip
        theirs = connections_db.add(
            conn, user_id=b.user_id, chatbot_id=b.id, platform="openai",
            credentials={"api_key": "sk-other-0000"}, keyring=keys,
        )  # fmt: skip
    envelope = stored(pool, mine)
    assert CANARY not in json.dumps(envelope)
    assert envelope["enc"] == "aes-256-gcm"

    with pool.connection() as conn:
        opened = connections_db.credentials(conn, chatbot_id=a.id, platform="openai", keyring=keys)
        masked = connections_db.list_masked(conn, keyring=keys, chatbot_id=a.id)
    assert opened == {"api_key": CANARY}
    assert masked[0]["credentials"] == {"api_key": "…" + CANARY[-4:]}

    # A ciphertext copied into another tenant's row does not decrypt there.
    with pool.connection() as conn:
        conn.execute(
            "UPDATE connections SET credentials = %s WHERE id = %s", (Jsonb(envelope), theirs)
        )
        with pytest.raises(CredentialError, match="integrity"):
            connections_db.credentials(conn, chatbot_id=b.id, platform="openai", keyring=keys)


def test_a_flipped_byte_fails_closed(
    pool: ConnectionPool, make_chatbot: Callable[..., Chatbot]
) -> None:
    keys = keyring()
    bot = make_chatbot()
    with pool.connection() as conn:
        cid = connections_db.add(
            conn, user_id=bot.user_id, chatbot_id=bot.id, platform="openai",
            credentials={"api_key": CANARY}, keyring=keys,
        )  # fmt: skip
    envelope = stored(pool, cid)
    ct = envelope["ct"]
    envelope["ct"] = ct[:10] + ("A" if ct[10] != "A" else "B") + ct[11:]
    with pool.connection() as conn:
        conn.execute(
            "UPDATE connections SET credentials = %s WHERE id = %s", (Jsonb(envelope), cid)
        )
        with pytest.raises(CredentialError):
            connections_db.credentials(conn, chatbot_id=bot.id, platform="openai", keyring=keys)
        # The wrong key fails closed too.
        with pytest.raises(CredentialError, match="not configured"):
            connections_db.credentials(
                conn, chatbot_id=bot.id, platform="openai", keyring=keyring()
            )


def test_rotation_moves_every_row_to_the_new_key(fresh_database: str) -> None:
    old, new = new_key(), new_key()
    with connect(fresh_database, autocommit=True) as conn:
        migrate.upgrade(conn)
        user = conn.execute("INSERT INTO profiles (email) VALUES ('r@x') RETURNING id::text")
        owner = str(user.fetchone()[0])  # type: ignore[index]
        bot = conn.execute(
            "INSERT INTO chatbots (user_id, name) VALUES (%s, 'b') RETURNING id::text", (owner,)
        ).fetchone()[0]  # type: ignore[index]
        sealed = connections_db.add(
            conn, user_id=owner, chatbot_id=bot, platform="openai",
            credentials={"api_key": CANARY}, keyring=Keyring.from_text(old),
        )  # fmt: skip
        conn.execute(  # a row written in plain JSON by another tool
            "INSERT INTO connections (user_id, chatbot_id, platform, credentials)"
            " VALUES (%s, %s, 'website', '{\"token\": \"plain-token-1234\"}')",
            (owner, bot),
        )
        rotated = connections_db.rotate(conn, keyring=Keyring.from_text(new, [old]))
        after = connections_db.credentials(
            conn, chatbot_id=bot, platform="openai", keyring=Keyring.from_text(new)
        )
        plain_left = conn.execute(
            "SELECT count(*) FROM connections WHERE credentials::text LIKE '%%plain-token%%'"
        ).fetchone()
        kids = {r[0] for r in conn.execute("SELECT credentials->>'kid' FROM connections")}
    assert rotated == 2
    assert after == {"api_key": CANARY}
    assert plain_left == (0,)
    assert kids == {key_id(Keyring.from_text(new).primary)}
    assert sealed


def test_the_cli_stores_and_lists_masked_and_never_prints_the_secret(
    pool: ConnectionPool, make_chatbot: Callable[..., Chatbot], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_chatbot()
    monkeypatch.setenv("TEST_OPENAI_KEY", CANARY)
    runner = CliRunner()
    added = runner.invoke(
        app, ["connection", "add", "--chatbot", bot.id, "--platform", "openai",
              "--set", "api_key=env:TEST_OPENAI_KEY", "--set", "base_url=http://127.0.0.1:9/v1"],
    )  # fmt: skip
    listed = runner.invoke(app, ["connection", "list", "--chatbot", bot.id, "--json"])
    assert added.exit_code == 0, added.output
    assert listed.exit_code == 0, listed.output
    assert CANARY not in added.output + listed.output
    shown = json.loads(listed.stdout)
    assert shown[0]["credentials"]["api_key"] == "…" + CANARY[-4:]
