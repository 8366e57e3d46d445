"""The composition root's services: what a CLI command or an HTTP route does, wired from
settings to the pool, the pipeline, the flows and retrieval. No pipeline or retrieval logic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from core.errors import NotFoundError
from core.settings import Settings, get_settings
from db import chatbots as chatbots_db
from db import open_pool
from db import sources as sources_db
from db.chatbots import Chatbot
from db.sources import DataSource
from pipeline.sources import storage_for, upload_key

TYPES_BY_SUFFIX = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
}


@dataclass(frozen=True)
class Context:
    settings: Settings
    pool: ConnectionPool


def context() -> Context:
    settings = get_settings()
    return Context(settings, open_pool(settings))


def chatbot(ctx: Context, ref: str, *, create: bool = False) -> Chatbot:
    """A chatbot of the local profile by name or id; created when ``create`` is set."""
    with ctx.pool.connection() as conn:
        found = chatbots_db.find(conn, ref=ref)
        if found is not None:
            return found
        if not create:
            raise NotFoundError(
                f"no chatbot named {ref!r}: ingest something first"
                f" (intaj ingest FILE --chatbot {ref})"
            )
        owner = chatbots_db.local_profile(conn)
        return chatbots_db.get_or_create(
            conn, user_id=owner, name=ref, language=ctx.settings.default_language
        )


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Registration:
    ref: str
    source: DataSource | None
    error: str | None = None


def register(ctx: Context, bot: Chatbot, ref: str, *, crawl: bool | None = None) -> Registration:
    """Make ``ref`` (a local file or a URL) a data source of ``bot``. A file is copied into
    storage under a server-made key; registering the same file again updates its bytes in place
    instead of adding a second source. ``crawl`` (URLs): crawl the site from ``ref``; None keeps
    the source's choice (a new source: INTAJ_URL_CRAWL)."""
    if is_url(ref):
        with ctx.pool.connection() as conn:
            existing = sources_db.find_by_origin(conn, chatbot_id=bot.id, origin=ref)
            if existing is not None and crawl is not None and existing.crawl != crawl:
                sources_db.set_crawl(conn, source_id=existing.id, crawl=crawl)
                existing = sources_db.get(conn, source_id=existing.id)
            source = existing or sources_db.add(
                conn, chatbot_id=bot.id, type="url", path=ref, name=ref, origin=ref, crawl=crawl
            )
        return Registration(ref, source)
    path = Path(ref).expanduser()
    if not path.is_file():
        return Registration(ref, None, f"{ref}: no such file")
    origin = str(path.resolve())
    data = path.read_bytes()
    with ctx.pool.connection() as conn:
        existing = sources_db.find_by_origin(conn, chatbot_id=bot.id, origin=origin)
        key = existing.path if existing else upload_key(bot.id, path.name)
        storage_for(key, ctx.settings).write(key, data)
        source = existing or sources_db.add(
            conn,
            chatbot_id=bot.id,
            type=TYPES_BY_SUFFIX.get(path.suffix.lower(), "file"),
            path=key,
            name=path.name,
            origin=origin,
        )
        if existing:
            sources_db.mark_pending(conn, source_id=existing.id)
    return Registration(ref, source)


def ingest(ctx: Context, bot: Chatbot, source_ids: list[str]) -> list[dict[str, Any]]:
    from flows.ingest import ingest_chatbot

    if not source_ids:
        return []
    return ingest_chatbot(bot.id, source_ids=source_ids)


def examples_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"
