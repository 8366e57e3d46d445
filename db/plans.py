"""What an owner's plan is checked against (issue 27; pipeline/plans.py decides, this module
counts): the owner's row lock, their usage, and the month's message counter.

A check and the insert it guards run in one transaction that first locks the owner's
``profiles`` row (:func:`lock_owner`), so of several registrations racing at the edge of a
limit the second waits for the first to commit, then counts its row: a limit is never passed.
Messages use no lock: :func:`reserve_message` is one conditional upsert."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from db.chatbots import LOCAL_EMAIL
from db.connections import WEBSITE

WHATSAPP = "whatsapp"
PLAN_LIMIT = "plan_limit"  # data_sources.error_code of a source a plan refused
_MONTH = "(date_trunc('month', now() AT TIME ZONE 'UTC'))::date"


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    subscription: str
    local: bool  # the local profile (the CLI's own user)


@dataclass(frozen=True, slots=True)
class OwnerUsage:
    chatbots: int
    widgets: int
    whatsapp_connections: int
    messages_this_month: int


@dataclass(frozen=True, slots=True)
class ChatbotUsage:
    sources: int
    bytes: int


@dataclass(frozen=True, slots=True)
class PlanParams:
    """The plans as the database's ``intaj_over_plan`` reads them (0010_plans.sql)."""

    plans: dict[str, Any]
    local_plan: str | None

    def sql(self) -> dict[str, Any]:
        return {
            "plans": Jsonb(self.plans),
            "local_email": LOCAL_EMAIL,
            "local_plan": self.local_plan,
        }


def _owner(row: tuple[Any, ...] | None) -> Owner | None:
    return None if row is None else Owner(row[0], row[1], row[2] == LOCAL_EMAIL)


def lock_owner(conn: psycopg.Connection, *, user_id: str) -> Owner | None:
    """The owner, their row locked until the transaction ends; None when there is none."""
    row = conn.execute(
        "SELECT id::text, subscription, email FROM profiles WHERE id = %s FOR UPDATE", (user_id,)
    ).fetchone()
    return _owner(row)


def owner(conn: psycopg.Connection, *, ref: str) -> Owner | None:
    """An owner by id or email, unlocked (for showing usage)."""
    row = conn.execute(
        "SELECT id::text, subscription, email FROM profiles"
        " WHERE id::text = %(r)s OR email = %(r)s ORDER BY created_at LIMIT 1",
        {"r": ref},
    ).fetchone()
    return _owner(row)


def owner_usage(conn: psycopg.Connection, *, user_id: str) -> OwnerUsage:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM chatbots WHERE user_id = %(u)s),"
        " (SELECT count(*) FROM connections WHERE user_id = %(u)s AND platform = %(w)s"
        "  AND active),"
        " (SELECT count(*) FROM connections WHERE user_id = %(u)s AND platform = %(wa)s"
        "  AND active),"
        " coalesce((SELECT messages FROM message_usage WHERE user_id = %(u)s"
        f" AND month = {_MONTH}), 0)",
        {"u": user_id, "w": WEBSITE, "wa": WHATSAPP},
    ).fetchone()
    assert row is not None
    return OwnerUsage(*(int(v) for v in row))


def chatbot_usage(
    conn: psycopg.Connection, *, chatbot_id: str, excluding: str | None = None
) -> ChatbotUsage:
    """The chatbot's sources and their stored bytes, but for ``excluding`` (a source whose
    bytes are being replaced); those a plan refused do not count."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(size_bytes), 0) FROM data_sources"
        " WHERE chatbot_id = %s AND error_code IS DISTINCT FROM %s"
        " AND id IS DISTINCT FROM %s::uuid",
        (chatbot_id, PLAN_LIMIT, excluding),
    ).fetchone()
    assert row is not None
    return ChatbotUsage(int(row[0]), int(row[1]))


def record_size(conn: psycopg.Connection, *, source_id: str, size: int) -> None:
    """The size of a file just registered, so that the next registration counts it."""
    conn.execute("UPDATE data_sources SET size_bytes = %s WHERE id = %s", (size, source_id))


def reserve_message(conn: psycopg.Connection, *, user_id: str, allowed: int | None) -> bool:
    """Count one message of this month for the owner unless that would pass ``allowed``
    (None: no limit); whether it was counted. One statement: concurrent callers at the edge
    are serialized on the counter's row and re-check, so the count never passes ``allowed``."""
    row = conn.execute(
        "INSERT INTO message_usage AS u (user_id, month, messages)"
        f" SELECT %(u)s, {_MONTH}, 1 WHERE %(n)s::bigint IS NULL OR %(n)s::bigint >= 1"
        " ON CONFLICT (user_id, month) DO UPDATE SET messages = u.messages + 1"
        " WHERE %(n)s::bigint IS NULL OR u.messages < %(n)s::bigint RETURNING messages",
        {"u": user_id, "n": allowed},
    ).fetchone()
    return row is not None


def release_message(conn: psycopg.Connection, *, user_id: str) -> None:
    """Give back one message of this month that :func:`reserve_message` counted and that was
    not answered (its answer failed): the owner pays for answers, not for outages."""
    conn.execute(
        "UPDATE message_usage SET messages = messages - 1"
        f" WHERE user_id = %s AND month = {_MONTH} AND messages > 0",
        (user_id,),
    )
