"""Chatbots and sources as people name them, resolved to their rows: the flows' parameters
(``flows/ingest.py``, ``flows/maintenance.py``) take what a data team knows, not only uuids.

- a chatbot: its id, or its name (``intaj chatbot list`` shows both);
- a source: its id, or its file name (``handbook.pdf``, the name it was uploaded under or the
  last part of its storage key), its path or its URL; within a chatbot where one is given.

An unknown reference raises :class:`NotFoundError`, an ambiguous one :class:`InputError` with
the candidates listed; either in one readable line. A string that is not a UUID is never
compared with a uuid column (which would fail in PostgreSQL with an SQL error)."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg_pool import ConnectionPool

from core.errors import InputError, NotFoundError
from core.ids import is_url, is_uuid
from db import chatbots as chatbots_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.sources import DataSource
from pipeline.run.line import Which

SHOWN = 5  # candidates or suggestions named in an error


def chatbot(pool: ConnectionPool, ref: str) -> Chatbot:
    """The chatbot ``ref`` names: its id, or its name when exactly one chatbot has it."""
    ref = ref.strip()
    if not ref:
        raise InputError("no chatbot given: enter a chatbot's name or id (intaj chatbot list)")
    with pool.connection() as conn:
        if is_uuid(ref) and (found := chatbots_db.get(conn, chatbot_id=ref)) is not None:
            return found
        bots = chatbots_db.named(conn, name=ref)
        similar = chatbots_db.names_like(conn, text=ref, limit=SHOWN) if not bots else []
    if len(bots) == 1:
        return bots[0]
    if bots:
        ids = ", ".join(b.id for b in bots[:SHOWN])
        raise InputError(
            f"{len(bots)} chatbots are named {ref!r} (ids {ids}): enter the id of the one you mean",
            code="ambiguous_name",
        )
    hint = f" (did you mean {', '.join(repr(n) for n in similar)}?)" if similar else ""
    raise NotFoundError(
        f"no chatbot named {ref!r}{hint}: enter a chatbot's name or id (intaj chatbot list"
        " shows them)"
    )


def source(pool: ConnectionPool, ref: str, *, bot: Chatbot | None = None) -> DataSource:
    """The source ``ref`` names (of ``bot`` when given, else of any chatbot)."""
    ref = ref.strip()
    if not ref:
        raise InputError("no source given: enter a file name, URL or source id")
    with pool.connection() as conn:
        found = sources_db.get(conn, source_id=ref) if is_uuid(ref) else None
        if found is not None and (bot is None or found.chatbot_id == bot.id):
            return found
        matches = sources_db.matching(conn, ref=ref, chatbot_id=bot.id if bot else None)
        owners = {s.chatbot_id: chatbots_db.get(conn, chatbot_id=s.chatbot_id) for s in matches}
    if len(matches) == 1:
        return matches[0]
    if not matches:
        where = f"chatbot {bot.name!r} has no source" if bot else "no chatbot has a source"
        listing = bot.name if bot is not None else "NAME"
        raise NotFoundError(
            f"{where} {ref!r}: enter a file name, URL or source id (intaj source list"
            f" --chatbot {listing} shows them)"
        )
    shown = "; ".join(
        f"{label(s)} in chatbot {getattr(owners[s.chatbot_id], 'name', s.chatbot_id)!r} (id {s.id})"
        for s in matches[:SHOWN]
    )
    raise InputError(
        f"{len(matches)} sources match {ref!r}: {shown}; enter the id of the one you mean",
        code="ambiguous_name",
    )


def chosen(
    pool: ConnectionPool, bot: Chatbot, which: Which, refs: Sequence[str] = ()
) -> list[DataSource]:
    """A chatbot's sources to run: those ``refs`` name (in the order given, each once), or all
    when there are none; of those, the ones whose status ``which`` names."""
    if refs:
        found = [source(pool, ref, bot=bot) for ref in refs]
        sources = list({s.id: s for s in found}.values())
    else:
        with pool.connection() as conn:
            sources = sources_db.list_for(conn, chatbot_id=bot.id)
    return [s for s in sources if which == "all" or s.status in which.split("_or_")]


def label(source: DataSource) -> str:
    """What a person calls a source: the name it was uploaded under, else its URL, else the
    file at the end of its storage key (never the ``<chatbot>/<uuid>/`` before it)."""
    if source.name:
        return source.name
    return file_name(source.path)


def file_name(path: str) -> str:
    """A URL as it is; a storage key or path (``<chatbot>/<uuid>/handbook.pdf``,
    ``supabase://bucket/...``): its last part."""
    if is_url(path):
        return path
    return path.rstrip("/").rsplit("/", 1)[-1] or path
