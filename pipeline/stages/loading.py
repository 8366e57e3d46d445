"""Load: a source's row and its bytes, fetched from storage (never another chatbot's file) or
the web (a crawl when the source says so), and its content identity: whether this content is
already ingested under the chatbot's model."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from core.errors import DatabaseError, NotFoundError, SourceError
from core.ids import is_url
from core.settings import Settings
from core.types import Document
from db import chatbots as chatbots_db
from db import sources as sources_db
from db.connection import failures_as
from db.sources import DataSource
from pipeline import identity
from pipeline import sources as storage
from pipeline.chunk import ChunkSpec
from pipeline.embed import model_of


@dataclass(frozen=True)
class Loaded:
    source: DataSource
    document: Document
    fingerprint: str
    unchanged: bool
    pages: tuple[Document, ...] = ()  # a crawled URL source: every page (document: the first)

    @property
    def size_bytes(self) -> int:
        return sum(len(p.data) for p in self.pages) if self.pages else len(self.document.data)


def model_for(pool: ConnectionPool, settings: Settings, chatbot_id: str) -> str:
    """The embedding model of the chatbot ``chatbot_id`` (see :func:`embed.model_of`)."""
    with pool.connection() as conn:
        bot = chatbots_db.get(conn, chatbot_id=chatbot_id)
    if bot is None:
        raise NotFoundError(f"chatbot {chatbot_id} does not exist")
    return model_of(bot, settings)


def fingerprint(data: bytes, spec: ChunkSpec) -> str:
    """The content identity of a file under this pipeline's parsing and chunking."""
    return identity.fingerprint(
        data, max_tokens=spec.max_tokens, overlap_tokens=spec.overlap_tokens
    )


def load(
    pool: ConnectionPool, settings: Settings, *, source_id: str, spec: ChunkSpec, model: str
) -> Loaded:
    with failures_as(DatabaseError, "loading the source"), pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    if source is None:
        raise NotFoundError(f"data source {source_id} does not exist (deleted?)")
    document, pages = fetch(source, settings)
    if source.name and not document.name:
        document = dataclasses.replace(document, name=source.name)
    print_ = fingerprint(_identity(pages) if pages else document.data, spec)
    unchanged = identity.is_unchanged(pool, source, fingerprint=print_, model=model)
    return Loaded(source, document, print_, unchanged, pages)


def crawls(source: DataSource, settings: Settings) -> bool:
    """Whether a source is a site to crawl: a URL whose own choice (else INTAJ_URL_CRAWL)
    says so."""
    return is_url(source.path) and (
        source.crawl if source.crawl is not None else settings.url_crawl
    )


def fetch(source: DataSource, settings: Settings) -> tuple[Document, tuple[Document, ...]]:
    """A source's document; for a crawled URL also every page (the first is the document)."""
    if not crawls(source, settings):
        storage.check_owner(source.path, source.chatbot_id)  # never another chatbot's file
        return storage.fetch(source.path, settings), ()
    from pipeline.sources.crawl import crawl

    pages = tuple(crawl(source.path, settings=settings))
    if not pages:
        raise SourceError(f"{source.path} gave no page to ingest (redirected off-site?)")
    return pages[0], pages


def _identity(pages: Sequence[Document]) -> bytes:
    """The content identity of a crawl: each page's URL and bytes, in crawl order."""
    return b"".join(f"{p.url}\n{hashlib.sha256(p.data).hexdigest()}\n".encode() for p in pages)
