"""The records a CLI command lists or edits: a chatbot's sources, FAQs and connections, and
the schema's migrations. Wiring only: the SQL is in ``db/``, the embedding in ``pipeline/``."""

from __future__ import annotations

from typing import Any

from core.crypto import keyring_for
from core.settings import get_settings
from db import connections as connections_db
from db import faqs as faqs_db
from db import migrate
from db import sources as sources_db
from db.chatbots import Chatbot
from db.connection import connect, database_url
from db.connections import Widget
from db.faqs import Faq
from db.migrate import Migration
from db.sources import DataSource
from intaj.services import Context
from pipeline import plans
from pipeline.embed import embedder_of
from pipeline.faqs import FaqSync, sync

# The connections a plan counts, by platform (a website widget made as a plain connection too).
PLAN_COUNTED = {"website": "widgets", "whatsapp": "whatsapp_connections"}


def sources(ctx: Context, bot: Chatbot) -> list[DataSource]:
    with ctx.pool.connection() as conn:
        return sources_db.list_for(conn, chatbot_id=bot.id)


def add_faqs(ctx: Context, bot: Chatbot, pairs: list[tuple[str, str]]) -> tuple[list[Faq], FaqSync]:
    """Add (question, answer) pairs (the same question again: its answer replaced), then
    embed the new or changed ones."""
    with ctx.pool.connection() as conn:
        added = [faqs_db.add(conn, chatbot_id=bot.id, question=q, answer=a) for q, a in pairs]
    return added, sync(ctx.pool, embedder_of(bot, ctx.settings), chatbot_id=bot.id)


def faqs(ctx: Context, bot: Chatbot) -> list[Faq]:
    with ctx.pool.connection() as conn:
        return faqs_db.list_for(conn, chatbot_id=bot.id)


def delete_faq(ctx: Context, faq_id: str) -> bool:
    with ctx.pool.connection() as conn:
        return faqs_db.delete(conn, faq_id=faq_id)


def add_connection(ctx: Context, bot: Chatbot, platform: str, credentials: dict[str, str]) -> str:
    """A connection of ``bot``, its credentials encrypted (AES-256-GCM, bound to the row);
    a WhatsApp one within the owner's plan."""
    with plans.guarded(ctx.pool, ctx.settings, user_id=bot.user_id) as guard:
        if platform in PLAN_COUNTED:
            guard.count(PLAN_COUNTED[platform])
        return connections_db.add(
            guard.conn, user_id=bot.user_id, chatbot_id=bot.id, platform=platform,
            credentials=credentials, keyring=keyring_for(ctx.settings),
        )  # fmt: skip


def connections(ctx: Context, bot: Chatbot | None) -> list[dict[str, Any]]:
    """Connections (of ``bot``, or all), credentials masked."""
    with ctx.pool.connection() as conn:
        return connections_db.list_masked(
            conn, keyring=keyring_for(ctx.settings), chatbot_id=bot.id if bot else None
        )


def rotate_keys(ctx: Context) -> int:
    """Re-encrypt every connection with the current key; how many."""
    with ctx.pool.connection() as conn:
        return connections_db.rotate(conn, keyring=keyring_for(ctx.settings))


def upgrade() -> list[Migration]:
    """Apply pending migrations; the ones applied."""
    with connect(database_url(get_settings()), autocommit=True) as conn:
        return migrate.upgrade(conn)


def add_widget(ctx: Context, bot: Chatbot, origins: list[str]) -> Widget:
    """A website widget of ``bot`` (a ``website`` connection) answering pages of ``origins``,
    within the owner's plan."""
    with plans.guarded(ctx.pool, ctx.settings, user_id=bot.user_id) as guard:
        guard.count("widgets")
        return connections_db.add_website(
            guard.conn, user_id=bot.user_id, chatbot_id=bot.id, origins=origins
        )


def widgets(ctx: Context, bot: Chatbot) -> list[Widget]:
    with ctx.pool.connection() as conn:
        return connections_db.widgets_for(conn, chatbot_id=bot.id)


def usage(ctx: Context, owner: str | None) -> plans.Usage:
    """The plan and usage of ``owner`` (a profile id or email; None: the local profile)."""
    from db.chatbots import local_profile

    if owner is None:
        with ctx.pool.connection() as conn:
            owner = local_profile(conn)
    return plans.usage(ctx.pool, ctx.settings, ref=owner)
