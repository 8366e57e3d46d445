"""Re-embedding a chatbot with a new model, side by side with the old one.

Chunks are keyed by embedding model, so the new model's set is built beside the old: each
ready source is fetched, parsed and chunked again (chunk sizes follow the new model's
tokenizer) and its vectors reuse every (new model, content hash) the chatbot already holds.
Nothing the chatbot searches changes until :func:`switch` sets ``chatbots.embedding_model`` in
one UPDATE; the old model's chunks stay until dropped (rollback is a switch back)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg_pool import ConnectionPool

from core.errors import IntajError
from core.settings import Settings
from db import chatbots as chatbots_db
from db import chunks as chunks_db
from db import dispatch as dispatch_db
from db import sources as sources_db
from db.sources import DataSource
from pipeline import faqs
from pipeline.chunk import ChunkSpec
from pipeline.embed import Embedder, get_embedder
from pipeline.embed.calibration import embeds_sentences
from pipeline.stages import chunking, embedding, loading, parsing, storing

if TYPE_CHECKING:
    from pipeline.languages import Language


@dataclass(frozen=True)
class Rebuilt:
    chunks: int
    embedded: int
    reused: int


def rebuild_source(
    pool: ConnectionPool, settings: Settings, embedder: Embedder, *, source: DataSource
) -> Rebuilt:
    """Write ``source``'s chunks under ``embedder``'s model; its other models' chunks, and the
    source's status, stay as they are."""
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_tokens)
    document, pages = loading.fetch(source, settings)
    parsed = parsing.parse(document, settings, pages)
    chunks = chunking.chunk(parsed, embedder, spec)
    sentences = embeds_sentences(settings, embedder.model_name)
    rows, embedded, reused = embedding.embed(
        pool, embedder, chatbot_id=source.chatbot_id, chunks=chunks, sentences=sentences
    )
    storing.write_chunks(pool, embedder, source=source, rows=rows)
    return Rebuilt(len(rows), embedded, reused)


def switch(
    pool: ConnectionPool,
    *,
    chatbot_id: str,
    model: str,
    drop: str | None,
    expected: Mapping[str, str | None] | None = None,
    language: Language | None = None,
) -> tuple[int, int]:
    """Make ``model`` the chatbot's search model in one UPDATE; optionally drop ``drop``'s
    chunks afterwards (in the same transaction, so readers never see neither). Returns the
    number of chunks dropped.

    ``expected`` (source id -> content hash the new chunks were built from) makes the switch
    refuse, changing nothing, when a source was added, re-ingested or deleted meanwhile: the
    source rows are locked first, so no ingestion swaps chunks between the check and the
    switch."""
    with pool.connection() as conn, conn.transaction():
        if expected is not None:
            held = sources_db.content_hashes(conn, chatbot_id=chatbot_id, lock=True)
            changed = {source for source, _ in set(held.items()) ^ set(expected.items())}
            if changed:
                raise IntajError(
                    f"{len(changed)} sources changed while the new vectors were built; the"
                    " chatbot stays on its model. Run the re-embedding again (finished vectors"
                    " are reused).",
                    code="reembed_incomplete",
                    transient=True,
                )
        dispatch_db.switch_model(conn, chatbot_id=chatbot_id, model=model)
        reindexed = 0
        if language is not None:
            reindexed = chatbots_db.set_language(
                conn,
                chatbot_id=chatbot_id,
                code=language.code,
                text_config=language.text_config,
                model=model,
            )
        if drop and drop != model:
            return dispatch_db.drop_model_chunks(conn, chatbot_id=chatbot_id, model=drop), reindexed
    return 0, reindexed


@dataclass
class ReembedSummary:
    """What :func:`reembed` did; ``switched`` is False when anything failed."""

    chatbot_id: str
    previous: str
    model: str
    switched: bool = False
    sources: list[dict[str, Any]] = field(default_factory=list)
    faqs: int = 0
    embedded: int = 0
    reused: int = 0
    dropped: int = 0
    reindexed: int = 0
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rebuilt_sources(pool: ConnectionPool, *, chatbot_id: str) -> list[DataSource]:
    """The sources whose chunks a chatbot searches: ready ones, and failed or re-running ones
    that still hold a previous set (a switch without them would lose that knowledge)."""
    with pool.connection() as conn:
        listed = sources_db.list_for(conn, chatbot_id=chatbot_id)
    return [s for s in listed if s.status == "ready" or s.chunk_count > 0]


def reembed(
    pool: ConnectionPool,
    settings: Settings,
    chatbot_id: str,
    model: str,
    *,
    drop_old: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    language: Language | None = None,
) -> ReembedSummary:
    """Build ``model``'s chunks for every source and FAQ of a chatbot beside the current
    model's, then switch the chatbot over atomically (:func:`switch`); with ``drop_old`` the
    previous model's chunks go in the same transaction (and any older model's after it). Any
    failure leaves the chatbot on its previous model, searchable as before; a second run reuses
    the vectors already built.
    ``progress`` gets each source's row as it finishes. The CLI (``intaj reembed``) runs this."""
    previous = loading.model_for(pool, settings, chatbot_id)
    embedder = get_embedder(settings, model)
    summary = ReembedSummary(chatbot_id, previous, embedder.model_name)
    with pool.connection() as conn:
        expected = sources_db.content_hashes(conn, chatbot_id=chatbot_id)
    _rebuild_all(pool, settings, embedder, summary, progress)
    summary.embedded += sum(r.get("embedded", 0) for r in summary.sources)
    summary.reused += sum(r.get("reused", 0) for r in summary.sources)
    failed = [r for r in summary.sources if r["status"] == "failed"]
    if failed:
        summary.error = (
            f"{len(failed)} sources could not be re-embedded; the chatbot stays on {previous}."
            " Fix or delete them and run again (finished vectors are reused)."
        )
        return summary
    summary.dropped, summary.reindexed = switch(
        pool,
        chatbot_id=chatbot_id,
        model=embedder.model_name,
        drop=previous if drop_old else None,
        expected=expected,
        language=language,
    )
    summary.switched = True
    if drop_old:  # also what earlier switches left behind
        summary.dropped += _drop_other_models(pool, chatbot_id, keep=embedder.model_name)
    return summary


def _rebuild_all(
    pool: ConnectionPool,
    settings: Settings,
    embedder: Embedder,
    summary: ReembedSummary,
    progress: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Every source's and the FAQs' chunks under ``embedder``'s model, a row each in
    ``summary.sources`` (failed ones with their error), the FAQs' counts in ``summary``."""
    for source in rebuilt_sources(pool, chatbot_id=summary.chatbot_id):
        row: dict[str, Any] = {"source": source.path, "status": "ready"}
        try:
            built = rebuild_source(pool, settings, embedder, source=source)
        except IntajError as e:
            row |= {"status": "failed", "error": e.message, "code": e.code}
        else:
            row |= {"chunks": built.chunks, "embedded": built.embedded, "reused": built.reused}
        summary.sources.append(row)
        if progress:
            progress(row)
    try:
        synced = faqs.sync(pool, embedder, chatbot_id=summary.chatbot_id)
    except IntajError as e:
        summary.sources.append({"source": "faqs", "status": "failed", "error": e.message,
                                "code": e.code})  # fmt: skip
    else:
        summary.faqs = synced.faqs
        summary.embedded, summary.reused = synced.embedded, synced.reused


def _drop_other_models(pool: ConnectionPool, chatbot_id: str, *, keep: str) -> int:
    """Delete the chatbot's chunks of every model but ``keep``; how many went."""
    dropped = 0
    with pool.connection() as conn, conn.transaction():
        for other in chunks_db.models_of(conn, chatbot_id=chatbot_id):
            if other != keep:
                dropped += dispatch_db.drop_model_chunks(conn, chatbot_id=chatbot_id, model=other)
    return dropped
