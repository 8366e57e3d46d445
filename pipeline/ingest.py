"""The stages of ingesting one data source, as plain functions (``pipeline/run`` runs them for
one source, ``flows/ingest.py`` as Prefect tasks).

    load   -> the source row and its bytes; skips a file whose content is unchanged
    parse  -> sections (in a sandboxed child process)
    chunk  -> token-sized chunks
    embed  -> vectors, reusing every (model, content hash) the chatbot already has
    store  -> one transaction swaps the source's chunks (readers see old or new)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from psycopg_pool import ConnectionPool

from core.errors import DatabaseError, NotFoundError, ParseError, SourceError, StoreError
from core.ids import is_url
from core.settings import Settings
from core.types import Chunk, Document, Parsed, Section
from db import chatbots as chatbots_db
from db import chunks as chunks_db
from db import sources as sources_db
from db.chunks import ChunkRow
from db.connection import failures_as
from db.sources import DataSource
from pipeline import identity
from pipeline import sources as storage
from pipeline.chunk import ChunkSpec, chunk_document
from pipeline.embed import Embedder, model_of
from pipeline.embed.base import tokens_add_up
from pipeline.parse import parse_document
from pipeline.parse.base import ParseLimits
from pipeline.sentences import embedded_sentences

log = logging.getLogger(__name__)
V = TypeVar("V")

EMBED_BATCH = 256

Progress = Callable[[str, int, int], None]  # (stage, done, total)


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


def parse(document: Document, settings: Settings, pages: Sequence[Document] = ()) -> Parsed:
    """Sections of a document; of a crawl, every page's sections, each cited by its page's
    URL (a page that cannot be parsed is skipped; the crawl fails only if none can)."""
    limits = ParseLimits(
        max_seconds=settings.parse_max_seconds,
        max_memory_bytes=settings.parse_max_memory_bytes,
        max_pages=settings.parse_max_pages,
        max_text_chars=settings.parse_max_text_chars,
        sandbox=settings.parse_sandbox,
    )
    if not pages:
        return parse_document(document, limits=limits)
    sections: list[Section] = []
    failures: list[ParseError] = []
    for page in pages:
        try:
            parsed = parse_document(page, limits=limits)
        except ParseError as e:
            log.info("skipping crawled page %s: %s", page.url, e)
            failures.append(e)
            continue
        sections.extend(dataclasses.replace(s, url=s.url or page.url) for s in parsed.sections)
    if not sections:
        raise failures[0]
    return Parsed(sections=tuple(sections))


def chunk(parsed: Parsed, embedder: Embedder, spec: ChunkSpec) -> list[Chunk]:
    return chunk_document(
        parsed,
        count_tokens=embedder.count_tokens,
        spec=spec.fitted(embedder.max_tokens),
        tokens_add_up=tokens_add_up(embedder),
    )


def embed(
    pool: ConnectionPool,
    embedder: Embedder,
    *,
    chatbot_id: str,
    chunks: Sequence[Chunk],
    progress: Progress | None = None,
    earlier: Mapping[str, np.ndarray] | None = None,
    sentences: bool = False,
) -> tuple[list[ChunkRow], int, int]:
    """Vectors for ``chunks``: reused where the chatbot holds the same content under the same
    model, embedded otherwise. Returns (rows, embedded, reused). ``earlier``: vectors by
    content hash, under the same chatbot and model, of sources this run embedded whose store
    may not have committed yet (the flow stores one source while it embeds the next).
    ``sentences``: also each chunk's sentences' vectors (:func:`sentence_vectors`)."""
    known = _known(pool, chunks_db.existing_embeddings, embedder, chatbot_id, chunks)
    if earlier:
        known = {**earlier, **known}
    missing = list(dict.fromkeys(c.embed_text for c in chunks if c.content_hash not in known))
    fresh: dict[str, np.ndarray] = {}
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start : start + EMBED_BATCH]
        for text, vector in zip(batch, embedder.embed(batch), strict=True):
            fresh[text] = vector
        if progress:
            progress("embed", min(start + EMBED_BATCH, len(missing)), len(missing))
    by_sentence = sentence_vectors(pool, embedder, chatbot_id, chunks) if sentences else {}
    rows = [
        ChunkRow(
            ordinal=c.ordinal,
            content=c.content,
            content_hash=c.content_hash,
            tokens=c.tokens,
            metadata=c.metadata,
            embedding=known[c.content_hash] if c.content_hash in known else fresh[c.embed_text],
            sentence_embeddings=by_sentence.get(c.content_hash),
        )
        for c in chunks
    ]
    reused = sum(1 for c in chunks if c.content_hash in known)
    return rows, len(rows) - reused, reused


def _known(
    pool: ConnectionPool,
    lookup: Callable[..., dict[str, V]],
    embedder: Embedder,
    chatbot_id: str,
    chunks: Sequence[Chunk],
) -> dict[str, V]:
    """What ``lookup`` (a ``db/chunks.py`` query) finds stored for these chunks' hashes under
    the embedder's model, in this chatbot."""
    with failures_as(DatabaseError, "looking up known embeddings"), pool.connection() as conn:
        return lookup(
            conn,
            chatbot_id=chatbot_id,
            model=embedder.model_name,
            hashes=(c.content_hash for c in chunks),
        )


def sentence_vectors(
    pool: ConnectionPool, embedder: Embedder, chatbot_id: str, chunks: Sequence[Chunk]
) -> dict[str, list[np.ndarray]]:
    """The vectors of each chunk's sentences (``pipeline/sentences.py``) by content hash:
    reused where the chatbot holds them for the same content and model, else embedded."""
    known = _known(pool, chunks_db.existing_sentence_embeddings, embedder, chatbot_id, chunks)
    wanted = {
        c.content_hash: found
        for c in chunks
        if c.content_hash not in known and (found := embedded_sentences(c.content))
    }
    texts = list(dict.fromkeys(t for found in wanted.values() for t in found))
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        vectors.update(zip(batch, embedder.embed(batch), strict=True))
    return known | {h: [vectors[t] for t in found] for h, found in wanted.items()}


def write_chunks(
    pool: ConnectionPool,
    embedder: Embedder,
    *,
    source: DataSource,
    rows: Sequence[ChunkRow],
    run_id: str | None = None,
) -> None:
    """Swap ``source``'s chunks under the embedder's model for ``rows`` in one transaction
    (creating the model's index on first use); ``source_deleted`` if the source is gone,
    ``disk_full`` or ``database_unavailable`` (transient) if the database fails under it."""
    with failures_as(StoreError, "storing the chunks"), pool.connection() as conn:
        chunks_db.ensure_model_index(
            conn, model=embedder.model_name, dimensions=embedder.dimensions
        )
        conn.commit()
        written = chunks_db.replace_source_chunks(
            conn,
            chatbot_id=source.chatbot_id,
            source_id=source.id,
            model=embedder.model_name,
            rows=rows,
            run_id=run_id,
        )
    if not written:
        raise StoreError(
            f"data source {source.id} was deleted during ingestion; nothing was written",
            code="source_deleted",
            transient=False,
        )


def store(
    pool: ConnectionPool,
    embedder: Embedder,
    *,
    loaded: Loaded,
    rows: Sequence[ChunkRow],
    run_id: str | None,
) -> None:
    """Swap the source's chunks for ``rows`` (its status is the run's: pipeline/run/job.py)."""
    write_chunks(pool, embedder, source=loaded.source, rows=rows, run_id=run_id)
