"""Structure-aware chunking, measured in model tokens, on LangChain's text splitters.

Sections that share a page, heading path and division are joined, then split into pieces of at
most ``max_tokens`` model tokens, counting the heading path that is embedded with each chunk. A
chunk never crosses a page, a heading or a division (an HTML ``<section>``, or DocBook's
``<div class="section">``), so its metadata
(page, heading path) is exact, and never exceeds the model's window, so nothing is silently
truncated.

Chunks are paragraph-aligned and their boundaries content-defined, so editing one paragraph
changes one or two chunks, not every chunk after it (embeddings are reused by content hash):
paragraphs (and the lines reflow keeps: list items, lines that end a sentence) are packed
greedily, but a chunk always ends after a line that a hash of its own text marks as a cut
point (with a probability that grows with its length). An edit can only move boundaries up to
the next cut point. A line too long for one chunk is split at sentence boundaries, with
``overlap_tokens`` of overlap between its pieces.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby, pairwise
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from core.types import Chunk, Parsed, Section

TokenCounter = Callable[[str], int]

SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
MIN_BODY_TOKENS = 64
# Expected tokens between cut points, as a share of the chunk size: lower gives smaller chunks
# and fewer re-embeddings per edit; higher, fuller chunks.
CUT_SHARE = 0.5
_LINE_BREAKS = re.compile(r"(\n\s*)")


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    max_tokens: int = 256
    overlap_tokens: int = 32

    def fitted(self, model_max_tokens: int) -> ChunkSpec:
        """This spec within a model's window (its max sequence minus the two special tokens)."""
        limit = max(MIN_BODY_TOKENS, min(self.max_tokens, model_max_tokens - 2))
        return ChunkSpec(limit, min(self.overlap_tokens, limit // 4))


_LIST_ITEM = re.compile(r"^\s*(?:[-•*‣◦]|\d+[.)])\s")
WRAPPED_LINE_CHARS = 40  # a shorter line without end punctuation is a heading or a label


def _wraps(line: str, following: str) -> bool:
    """Whether the break after ``line`` only wraps a sentence onto ``following``."""
    end = line.rstrip()
    return (
        bool(end)
        and bool(following.strip())
        and end[-1] not in ".!?:;"
        and len(end) >= WRAPPED_LINE_CHARS
        and not _LIST_ITEM.match(following)
    )


def reflow(text: str) -> str:
    """Join line breaks that only wrap a sentence (PDF layout); keep paragraph breaks, list
    items, headings (short lines) and breaks after sentence punctuation."""
    lines = text.split("\n")
    out = lines[:1]
    for previous, line in pairwise(lines):
        if _wraps(previous, line):
            out[-1] = out[-1].rstrip() + " " + line.lstrip()
        else:
            out.append(line)
    return "\n".join(out)


def _blocks(sections: Iterable[Section]) -> Iterator[tuple[Section, str]]:
    """Consecutive sections with the same page, headings, kind, URL and division, joined."""

    def key(s: Section) -> tuple[Any, ...]:
        return (s.page, s.headings, s.kind, s.url, s.part)

    for _, group in groupby(sections, key=key):
        items = list(group)
        texts = (s.text.strip() for s in items if s.text.strip())
        if items[0].kind != "table":
            texts = (reflow(t) for t in texts)
        text = "\n\n".join(texts)
        if text:
            yield items[0], text


def _metadata(section: Section, title: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if section.page is not None:
        meta["page"] = section.page
    if section.headings:
        meta["headings"] = list(section.headings)
    if section.kind != "text":
        meta["kind"] = section.kind
    if section.url:
        meta["url"] = section.url
    if title:
        meta["title"] = title
    return meta


def chunk_document(
    parsed: Parsed, *, count_tokens: TokenCounter, spec: ChunkSpec, tokens_add_up: bool = False
) -> list[Chunk]:
    """Split a parsed document into token-sized chunks, in document order.

    ``tokens_add_up``: the tokenizer counts ``a + "\\n" + b`` as ``a``'s tokens plus ``b``'s
    (:attr:`pipeline.embed.onnx.Tokens.add_up`), so a growing chunk's count is kept as a sum
    instead of recounted. The chunks are the same either way; only the time differs."""
    # Counting is pure, and the sentence splitter asks for the same pieces again and again.
    count = functools.lru_cache(maxsize=None)(count_tokens)
    chunks: list[Chunk] = []
    for section, text in _blocks(parsed.sections):
        meta = _metadata(section, parsed.title)
        prefix = " > ".join(section.headings) + "\n" if section.headings else ""
        heading_tokens = count(prefix) if prefix else 0
        body_limit = max(MIN_BODY_TOKENS, spec.max_tokens - heading_tokens)
        overlap = min(spec.overlap_tokens, body_limit // 4)
        for piece in _pieces(text, body_limit, overlap, count, tokens_add_up):
            embed_text = prefix + piece
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    content=piece,
                    embed_text=embed_text,
                    tokens=count(embed_text),
                    metadata=dict(meta),
                )
            )
    return chunks


def is_cut_point(paragraph: str, tokens: int, target: float) -> bool:
    """Whether a chunk ends after ``paragraph``: decided by its own text only, so it is the same
    wherever the paragraph sits; about once every ``target`` tokens."""
    digest = hashlib.blake2b(paragraph.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < tokens / target


def _units(text: str) -> Iterator[tuple[str, str]]:
    """(separator before it, line) for each non-empty line of ``text``: paragraphs, and the
    lines that reflow kept (list items, lines ending a sentence)."""
    parts = _LINE_BREAKS.split(text)
    separator = ""
    for i, part in enumerate(parts):
        if i % 2:
            separator = "\n\n" if part.count("\n") > 1 else "\n"
        elif part.strip():
            yield separator, part.strip()


def _pieces(
    text: str, limit: int, overlap: int, count_tokens: TokenCounter, tokens_add_up: bool = False
) -> Iterator[str]:
    """Line-aligned pieces of ``text`` of at most ``limit`` tokens (module docstring)."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=limit,
        chunk_overlap=overlap,
        length_function=count_tokens,
        separators=SEPARATORS[2:],
        keep_separator="end",
        strip_whitespace=True,
    )
    target = CUT_SHARE * limit
    group, group_tokens = "", 0
    for separator, unit in _units(text):
        tokens = count_tokens(unit)
        if tokens > limit:
            if group:
                yield group
                group, group_tokens = "", 0
            yield from splitter.split_text(unit)
            continue
        joined = group + separator + unit if group else unit
        if not group:
            joined_tokens = tokens
        elif tokens_add_up:  # the separator is whitespace: the counts add up
            joined_tokens = group_tokens + tokens
        else:
            joined_tokens = count_tokens(joined)
        if group and joined_tokens > limit:
            yield group
            joined, joined_tokens = unit, tokens
        group, group_tokens = joined, joined_tokens
        if is_cut_point(unit, tokens, target):
            yield group
            group, group_tokens = "", 0
    if group:
        yield group


def faq_chunk(*, question: str, answer: str, count_tokens: TokenCounter) -> Chunk:
    """An FAQ as one chunk: the question is what gets embedded (it is what visitors ask);
    the content holds question and answer, so full-text search sees both."""
    content = f"{question.strip()}\n\n{answer.strip()}"
    meta = {"kind": "faq", "question": question.strip(), "answer": answer.strip()}
    return Chunk(
        ordinal=0,
        content=content,
        embed_text=question.strip(),
        tokens=count_tokens(question),
        metadata=meta,
    )
