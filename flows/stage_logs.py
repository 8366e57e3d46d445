"""The five stages of a source, each followed by one INFO line in the run's logs (what the
Prefect UI shows on the run's page): fetched, parsed N pages, chunked, embedded M / reused K,
stored. The stages themselves are unchanged (``pipeline/run/job.py`` :class:`Stages`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from psycopg_pool import ConnectionPool

from core.settings import Settings
from core.types import Chunk, Document, Parsed
from db.chunks import ChunkRow
from pipeline.chunk import ChunkSpec
from pipeline.embed import Embedder
from pipeline.run.job import Stages
from pipeline.run.progress import Report
from pipeline.run.refs import label
from pipeline.stages import loading

log = logging.getLogger(__name__)


def _info(message: str, *args: Any) -> None:
    try:
        get_run_logger().info(message, *args)
    except MissingContextError:  # a plain call, outside any run
        log.info(message, *args)


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} kB"


def logged(stages: Stages) -> Stages:
    """``stages``, each logging what it did once it returns."""

    def load(
        pool: ConnectionPool, settings: Settings, *, source_id: str, spec: ChunkSpec, model: str
    ) -> loading.Loaded:
        loaded = stages.load(pool, settings, source_id=source_id, spec=spec, model=model)
        name = label(loaded.source)
        if loaded.unchanged:
            _info("%s is unchanged since its last ingestion: its chunks are kept", name)
        else:
            pages = f", {len(loaded.pages)} pages crawled" if loaded.pages else ""
            _info("fetched %s (%s%s)", name, _size(loaded.size_bytes), pages)
        return loaded

    def parse(document: Document, settings: Settings, pages: Sequence[Document] = ()) -> Parsed:
        parsed = stages.parse(document, settings, pages)
        counted = f"{parsed.pages} pages, " if parsed.pages else ""
        _info("parsed %s: %s%d sections", document.name, counted, len(parsed.sections))
        return parsed

    def chunk(parsed: Parsed, embedder: Embedder, spec: ChunkSpec) -> list[Chunk]:
        chunks = stages.chunk(parsed, embedder, spec)
        tokens = sum(c.tokens for c in chunks)
        _info("chunked into %d chunks (%d tokens)", len(chunks), tokens)
        return chunks

    def embed(
        pool: ConnectionPool, embedder: Embedder, *, chatbot_id: str, chunks: Sequence[Chunk],
        progress: Report | None = None, earlier: Mapping[str, np.ndarray] | None = None,
        sentences: bool = False,
    ) -> tuple[list[ChunkRow], int, int]:  # fmt: skip
        rows, embedded, reused = stages.embed(
            pool, embedder, chatbot_id=chatbot_id, chunks=chunks, progress=progress,
            earlier=earlier, sentences=sentences,
        )  # fmt: skip
        _info(
            "embedded %d chunks with %s, reused %d stored vectors",
            embedded,
            embedder.model_name,
            reused,
        )
        return rows, embedded, reused

    def store(
        pool: ConnectionPool, embedder: Embedder, *, loaded: loading.Loaded,
        rows: Sequence[ChunkRow], run_id: str | None,
    ) -> None:  # fmt: skip
        stages.store(pool, embedder, loaded=loaded, rows=rows, run_id=run_id)
        _info("stored %d chunks of %s", len(rows), label(loaded.source))

    return Stages(load, parse, chunk, embed, store)
