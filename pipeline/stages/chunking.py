"""Chunk: sections into token-sized chunks, counted in the embedding model's own tokens."""

from __future__ import annotations

from core.types import Chunk, Parsed
from pipeline.chunk import ChunkSpec, chunk_document
from pipeline.embed import Embedder
from pipeline.embed.base import tokens_add_up


def chunk(parsed: Parsed, embedder: Embedder, spec: ChunkSpec) -> list[Chunk]:
    return chunk_document(
        parsed,
        count_tokens=embedder.count_tokens,
        spec=spec.fitted(embedder.max_tokens),
        tokens_add_up=tokens_add_up(embedder),
    )
