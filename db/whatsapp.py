"""WhatsApp connections and their durable inbox (db/migrations/0009_whatsapp.sql).

A connection is a ``connections`` row with ``platform = 'whatsapp'``; its credentials (the
phone-number id, access token, app secret and verify token) are sealed like every other
connection's (core/crypto.py) and opened here, by connection id, for the webhook and the
worker. The inbox holds one row per inbound WhatsApp message id: :func:`receive` inserts it
once, :func:`claim` hands it to one worker (``FOR UPDATE SKIP LOCKED``, a fresh claim token),
and every later write names that token, so a worker whose lease ran out changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core.crypto import Keyring, is_sealed, open_sealed
from db import messages as messages_db
from db.connections import row_aad  # the one rule binding a sealed blob to its row

WHATSAPP = "whatsapp"
CREDENTIAL_KEYS = ("phone_number_id", "access_token", "app_secret", "verify_token")


@dataclass(frozen=True, slots=True)
class WhatsAppConnection:
    id: str
    chatbot_id: str
    user_id: str
    phone_number_id: str
    access_token: str
    app_secret: str
    verify_token: str
    verified_at: datetime | None


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: str
    claim: str
    wa_message_id: str
    connection_id: str
    chatbot_id: str
    sender: str
    kind: str
    body: str | None
    received_at: datetime
    attempts: int
    conversation_id: str | None
    reply: str | None
    reply_message_id: str | None
    parts_sent: int


def connection(
    conn: psycopg.Connection, *, connection_id: str, keyring: Keyring
) -> WhatsAppConnection | None:
    """The active WhatsApp connection ``connection_id`` (bound to a chatbot), its credentials
    opened; None when there is none or it lacks one of :data:`CREDENTIAL_KEYS`."""
    row = conn.execute(
        "SELECT id::text, chatbot_id::text, user_id::text, credentials, verified_at"
        " FROM connections WHERE id = %s AND platform = %s AND active"
        " AND chatbot_id IS NOT NULL",
        (connection_id, WHATSAPP),
    ).fetchone()
    if row is None or not isinstance(row[3], dict):
        return None
    found, bot, user, stored, verified = row
    plain = open_sealed(keyring, stored, aad=row_aad(found, bot)) if is_sealed(stored) else stored
    if not all(isinstance(plain.get(k), str) and plain[k] for k in CREDENTIAL_KEYS):
        return None
    number, token, secret, verify = (str(plain[k]) for k in CREDENTIAL_KEYS)
    return WhatsAppConnection(found, bot, user, number, token, secret, verify, verified)


def connection_ids(conn: psycopg.Connection, *, chatbot_id: str) -> list[str]:
    """The chatbot's active WhatsApp connections, oldest first."""
    rows = conn.execute(
        "SELECT id::text FROM connections WHERE chatbot_id = %s AND platform = %s AND active"
        " ORDER BY created_at, id",
        (chatbot_id, WHATSAPP),
    ).fetchall()
    return [r[0] for r in rows]


def mark_verified(conn: psycopg.Connection, *, connection_id: str) -> None:
    conn.execute("UPDATE connections SET verified_at = now() WHERE id = %s", (connection_id,))


def receive(
    conn: psycopg.Connection,
    *,
    connection_id: str,
    chatbot_id: str,
    wa_message_id: str,
    sender: str,
    kind: str,
    body: str | None,
) -> str | None:
    """The new inbox row's id, or None when this WhatsApp message id is already in."""
    row = conn.execute(
        "INSERT INTO whatsapp_inbox (wa_message_id, connection_id, chatbot_id, sender, kind,"
        " body) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (wa_message_id) DO NOTHING"
        " RETURNING id::text",
        (wa_message_id, connection_id, chatbot_id, sender, kind, body),
    ).fetchone()
    return None if row is None else str(row[0])


def set_limited(conn: psycopg.Connection, *, inbox_id: str, error: str) -> None:
    """An inbox row over a rate limit: kept, never answered."""
    conn.execute(
        "UPDATE whatsapp_inbox SET state = 'limited', error = %s, finished_at = now()"
        " WHERE id = %s",
        (error, inbox_id),
    )


_CLAIM = """
UPDATE whatsapp_inbox SET state = 'working', claim = %(claim)s, claimed_at = clock_timestamp(),
       attempts = attempts + 1
 WHERE id = (SELECT id FROM whatsapp_inbox
              WHERE state = 'pending' OR (state = 'working'
                    AND claimed_at < clock_timestamp() - make_interval(secs => %(lease)s))
              ORDER BY received_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id::text, claim::text, wa_message_id, connection_id::text, chatbot_id::text, sender,
          kind, body, received_at, attempts, conversation_id::text, reply,
          reply_message_id::text, parts_sent
"""


def claim(conn: psycopg.Connection, *, lease_seconds: float) -> InboxRow | None:
    """The oldest row to work (pending, or working under a lease older than
    ``lease_seconds``: its worker died), now claimed by a fresh token; None when none."""
    params = {"claim": str(uuid.uuid4()), "lease": lease_seconds}
    row = conn.execute(_CLAIM, params).fetchone()
    return None if row is None else InboxRow(*row)


def renew(conn: psycopg.Connection, *, claims: list[str]) -> None:
    """Keep these claims alive (a worker's heartbeat)."""
    conn.execute(
        "UPDATE whatsapp_inbox SET claimed_at = clock_timestamp()"
        " WHERE claim = ANY(%s::uuid[]) AND state = 'working'",
        (claims,),
    )


def record_answer(
    conn: psycopg.Connection,
    *,
    row: InboxRow,
    conversation_id: str,
    user_content: str,
    reply: str,
    metadata: dict[str, Any],
) -> str | None:
    """In one transaction: the conversation's two turns (``messages``) and the reply on the
    inbox row. The assistant message's id, or None when the claim was lost (nothing written)."""
    with conn.transaction():
        held = conn.execute(
            "SELECT 1 FROM whatsapp_inbox WHERE id = %s AND claim = %s AND state = 'working'"
            " AND reply IS NULL FOR UPDATE",
            (row.id, row.claim),
        ).fetchone()
        if held is None:
            return None
        base = {"channel": WHATSAPP, "wa_message_id": row.wa_message_id}
        messages_db.add(
            conn, chatbot_id=row.chatbot_id, conversation_id=conversation_id, role="user",
            content=user_content, metadata={**base, "kind": row.kind, "sender": row.sender},
        )  # fmt: skip
        message_id = messages_db.add(
            conn, chatbot_id=row.chatbot_id, conversation_id=conversation_id,
            role="assistant", content=reply, metadata={**metadata, **base},
        )  # fmt: skip
        conn.execute(
            "UPDATE whatsapp_inbox SET conversation_id = %s, reply = %s, reply_message_id = %s"
            " WHERE id = %s",
            (conversation_id, reply, message_id, row.id),
        )
    return message_id


def part_sent(conn: psycopg.Connection, *, row: InboxRow, outbound_id: str) -> bool:
    """One more part of the reply was accepted by the Graph API; False if the claim was lost."""
    done = conn.execute(
        "UPDATE whatsapp_inbox SET parts_sent = parts_sent + 1, claimed_at = clock_timestamp(),"
        " outbound_ids = outbound_ids || %s::text WHERE id = %s AND claim = %s"
        " AND state = 'working'",
        (outbound_id, row.id, row.claim),
    )
    return done.rowcount == 1


def finish(
    conn: psycopg.Connection, *, row: InboxRow, error: str | None = None, attempts: int = 0
) -> None:
    """The row is done: ``sent``, or ``failed`` with ``error``; either way marked on the reply
    message's metadata (``whatsapp.delivery``), where the playground shows it."""
    state = "failed" if error else "sent"
    with conn.transaction():
        found = conn.execute(
            "UPDATE whatsapp_inbox SET state = %s, error = %s, finished_at = now()"
            " WHERE id = %s AND claim = %s AND state = 'working'"
            " RETURNING reply_message_id::text, outbound_ids",
            (state, error, row.id, row.claim),
        ).fetchone()
        if found is None or found[0] is None:
            return
        delivery: dict[str, Any] = {"delivery": state, "message_ids": list(found[1])}
        if error:
            delivery |= {"error": error, "attempts": attempts}
        conn.execute(
            "UPDATE messages SET metadata = metadata || jsonb_build_object('whatsapp', %s::jsonb)"
            " WHERE id = %s",
            (Jsonb(delivery), found[0]),
        )


def record_status(
    conn: psycopg.Connection,
    *,
    connection_id: str,
    chatbot_id: str,
    wa_message_id: str,
    status: str,
    recipient: str | None,
    at: datetime | None,
    errors: list[dict[str, Any]],
) -> bool:
    """A delivery status of an outbound message, once per (message, status); whether new."""
    done = conn.execute(
        "INSERT INTO whatsapp_statuses (wa_message_id, status, connection_id, chatbot_id,"
        " recipient, at, errors) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (wa_message_id, status) DO NOTHING",
        (wa_message_id, status, connection_id, chatbot_id, recipient, at, Jsonb(errors)),
    )
    return done.rowcount == 1


def recent(
    conn: psycopg.Connection, *, connection_id: str, limit: int = 20
) -> list[dict[str, Any]]:
    """The connection's latest inbound messages, their state and their reply's last status."""
    rows = conn.execute(
        "SELECT i.wa_message_id, i.kind, i.state, i.error, i.received_at, i.finished_at,"
        " i.parts_sent, (SELECT s.status FROM whatsapp_statuses s"
        "  WHERE s.wa_message_id = ANY(i.outbound_ids)"
        "  ORDER BY array_position(ARRAY['sent','delivered','read','failed'], s.status) DESC"
        "  LIMIT 1) FROM whatsapp_inbox i WHERE i.connection_id = %s"
        " ORDER BY i.received_at DESC LIMIT %s",
        (connection_id, limit),
    ).fetchall()
    keys = ("wa_message_id", "kind", "state", "error", "received_at", "finished_at",
            "parts_sent", "status")  # fmt: skip
    return [dict(zip(keys, r, strict=True)) for r in rows]
