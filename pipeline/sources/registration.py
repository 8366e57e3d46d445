"""Making a file or a URL a data source of a chatbot: the one table of source types by file
suffix, :func:`register` (the CLI's ``ingest`` and ``source add``: a local file or a URL) and
:func:`register_stored` (a storage upload event: a file already in storage). Every new source
is made here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psycopg_pool import ConnectionPool

from core.ids import is_url, is_uuid
from core.settings import Settings
from db import chatbots as chatbots_db
from db import dispatch as dispatch_db
from db import plans as plans_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.sources import DataSource
from pipeline import identity, plans, status
from pipeline.embed import model_of
from pipeline.sources.registry import storage_for, upload_key

TYPES_BY_SUFFIX = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
}


def type_of(file_name: str) -> str:
    """A source's type from its file name's suffix; ``file`` when the suffix says nothing
    (the parser then detects the type from the bytes)."""
    suffix = Path(file_name).suffix.lower()
    return TYPES_BY_SUFFIX.get(suffix, "file")


@dataclass(frozen=True)
class Registration:
    ref: str
    source: DataSource | None
    error: str | None = None
    unchanged: bool = False  # the same bytes are already ingested: nothing to run


def register(
    pool: ConnectionPool,
    settings: Settings,
    bot: Chatbot,
    ref: str,
    *,
    crawl: bool | None = None,
) -> Registration:
    """Make ``ref`` (a local file or a URL) a data source of ``bot``. A file is copied into
    storage under a server-made key; registering the same file again updates its bytes in place
    instead of adding a second source. ``crawl`` (URLs): crawl the site from ``ref``; None keeps
    the source's choice (a new source: INTAJ_URL_CRAWL)."""
    if is_url(ref):
        with plans.guarded(pool, settings, user_id=bot.user_id) as guard:
            conn = guard.conn
            existing = sources_db.find_by_origin(conn, chatbot_id=bot.id, origin=ref)
            if existing is not None and crawl is not None and existing.crawl != crawl:
                sources_db.set_crawl(conn, source_id=existing.id, crawl=crawl)
                existing = sources_db.get(conn, source_id=existing.id)
            if existing is None:
                guard.source(bot.id, size=None)
            source = existing or sources_db.add(
                conn, chatbot_id=bot.id, type="url", path=ref, name=ref, origin=ref, crawl=crawl
            )
        return Registration(ref, source)
    path = Path(ref).expanduser()
    if not path.is_file():
        return Registration(ref, None, f"{ref}: no such file")
    size, limit = path.stat().st_size, settings.max_file_bytes
    if size > limit:  # refused before a byte is read or stored (D4)
        return Registration(
            ref, None, f"{ref} is {size} bytes, over the limit of {limit} (INTAJ_MAX_FILE_BYTES)"
        )
    origin = str(path.resolve())
    data = path.read_bytes()
    with pool.connection() as conn:
        existing = sources_db.find_by_origin(conn, chatbot_id=bot.id, origin=origin)
    if existing is not None and existing.status == "ready":
        print_ = identity.fingerprint(
            data, max_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens
        )
        model = model_of(bot, settings)
        if identity.is_unchanged(pool, existing, fingerprint=print_, model=model):
            return Registration(ref, existing, unchanged=True)
    with plans.guarded(pool, settings, user_id=bot.user_id) as guard:  # checked, then stored
        guard.source(bot.id, size=size, replacing=existing.id if existing else None)
        key = existing.path if existing else upload_key(bot.id, path.name)
        storage_for(key, settings).write(key, data)
        source = existing or sources_db.add(
            guard.conn,
            chatbot_id=bot.id,
            type=type_of(path.name),
            path=key,
            name=path.name,
            origin=origin,
        )
        plans_db.record_size(guard.conn, source_id=source.id, size=size)
    if existing:
        status.pending(pool, source_id=existing.id)
    return Registration(ref, source)


def register_stored(
    pool: ConnectionPool, settings: Settings, *, path: str, key: str, size: object = None
) -> Registration:
    """A file already in storage at ``path`` (``supabase://bucket/<key>``), uploaded under a
    key made by ``upload_key`` (``{chatbot_id}/{uuid}/{file}``), of ``size`` bytes when the
    event says: its source made pending again (a re-upload) or created. Refused (``source``
    None) when the key names no chatbot; a :class:`PlanLimitError` when the owner's plan has
    no room for it (no row is written)."""
    size = size if isinstance(size, int) and size >= 0 else None  # (from an event's JSON)
    with pool.connection() as conn:
        found = dispatch_db.find_by_path(conn, path=path)
        chatbot_id = key.split("/", 1)[0]
        bot = chatbots_db.get(conn, chatbot_id=chatbot_id) if is_uuid(chatbot_id) else None
        source = sources_db.get(conn, source_id=found[0]) if found else None
    if source is not None:
        if size is not None:  # new bytes: within the plan (the file, the chatbot's bytes)
            _check_stored(pool, settings, source, size)
        status.pending(pool, source_id=source.id)
        with pool.connection() as conn:
            return Registration(path, sources_db.get(conn, source_id=source.id))
    if bot is None:
        return Registration(path, None, f"{key!r} does not start with a chatbot's id")
    with plans.guarded(pool, settings, user_id=bot.user_id) as guard:
        guard.source(bot.id, size=size)
        file_name = key.rsplit("/", 1)[-1]
        source = sources_db.add(
            guard.conn,
            chatbot_id=bot.id,
            type=type_of(file_name),
            path=path,
            name=file_name,
            origin=path,
        )
        if size is not None:
            plans_db.record_size(guard.conn, source_id=source.id, size=size)
    return Registration(path, source)


def _check_stored(pool: ConnectionPool, settings: Settings, source: DataSource, size: int) -> None:
    with pool.connection() as conn:
        bot = chatbots_db.get(conn, chatbot_id=source.chatbot_id)
    if bot is None:
        return
    with plans.guarded(pool, settings, user_id=bot.user_id) as guard:
        guard.source(bot.id, size=size, replacing=source.id)
        plans_db.record_size(guard.conn, source_id=source.id, size=size)
