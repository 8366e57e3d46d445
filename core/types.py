"""Domain types shared by every package: what flows between the stages and out of retrieval."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Document:
    """Bytes fetched from storage or a URL, with what we know of them."""

    data: bytes
    name: str
    mime: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text from a parsed document, with where it sits in the document."""

    text: str
    page: int | None = None
    headings: tuple[str, ...] = ()
    kind: str = "text"  # text | table | title
    url: str | None = None
    # Which division of the document it sits in (HTML <section>/<article>): a chunk never
    # joins text of two divisions, as it never joins text under two headings.
    part: int = 0


@dataclass(frozen=True, slots=True)
class Parsed:
    """The result of parsing one document."""

    sections: tuple[Section, ...]
    title: str | None = None
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document (or an FAQ) sized for the embedding model.

    ``content`` is what is stored, searched in full text and cited; ``embed_text`` is what the
    model embeds (the content with its heading path as context, or an FAQ's question)."""

    ordinal: int
    content: str
    embed_text: str
    tokens: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self.embed_text)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result."""

    chunk_id: int
    content: str
    score: float
    source: str
    metadata: dict[str, Any]
    source_id: str | None = None
    faq_id: str | None = None
    # the chunk's own vector's similarity (``score`` may mix in its best sentence's), and the
    # IDF-weighted share of the query's words it holds (0 without text search)
    chunk_score: float | None = None
    coverage: float = 0.0

    @property
    def is_faq(self) -> bool:
        return self.faq_id is not None


@dataclass(frozen=True, slots=True)
class Citation:
    number: int
    source: str
    metadata: dict[str, Any]
    snippet: str
    score: float
    chunk_id: int | None = None  # the passage (GET /v1/chatbots/{id}/passages/{chunk_id})


@dataclass(frozen=True, slots=True)
class Answer:
    answer: str
    citations: tuple[Citation, ...]
    confidence: float
    abstained: bool
    conversation_id: str | None = None
