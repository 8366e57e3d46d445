"""One source's ingestion, start to end, without Prefect: :func:`prepare` (its run row and
lease started, then load, parse and chunk), :func:`embed`, :func:`finish` (store it and mark it
ready, or mark it failed; close the run row and the lease). ``error`` on the :class:`Job`
stops the stages that follow; :func:`finish` records it.

The stages are passed in (:class:`Stages`): ``flows/ingest.py`` passes Prefect tasks for
``ingest-data-source`` and :data:`PLAIN_STAGES` inside each ``ingest-source`` task. What the
orchestrator adds around a source (its flow run id on the run row, a report of the finished
source) comes in :class:`Hooks`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from psycopg_pool import ConnectionPool

from core import metrics
from core.errors import DatabaseError, IntajError, NotFoundError
from core.settings import Settings, get_settings
from core.types import Chunk, Document, Parsed
from db import open_pool
from db import runs as runs_db
from db import sources as sources_db
from db.chunks import ChunkRow
from db.connection import failures_as, unless_unavailable
from pipeline import status
from pipeline.chunk import ChunkSpec
from pipeline.embed import Embedder, get_embedder
from pipeline.embed.calibration import embeds_sentences
from pipeline.run import progress
from pipeline.run.result import SourceResult
from pipeline.run.retry import retried
from pipeline.run.tracking import RunTracker
from pipeline.run.worker import this_process
from pipeline.stages import chunking, embedding, loading, parsing, storing


class Load(Protocol):
    def __call__(
        self, pool: ConnectionPool, settings: Settings, *, source_id: str, spec: ChunkSpec,
        model: str,
    ) -> loading.Loaded: ...  # fmt: skip


class Parse(Protocol):
    def __call__(
        self, document: Document, settings: Settings, pages: Sequence[Document] = ()
    ) -> Parsed: ...


class ChunkStage(Protocol):
    def __call__(self, parsed: Parsed, embedder: Embedder, spec: ChunkSpec) -> list[Chunk]: ...


class Embed(Protocol):
    def __call__(
        self, pool: ConnectionPool, embedder: Embedder, *, chatbot_id: str,
        chunks: Sequence[Chunk], progress: progress.Report | None = None,
        earlier: Mapping[str, np.ndarray] | None = None, sentences: bool = False,
    ) -> tuple[list[ChunkRow], int, int]: ...  # fmt: skip


class Store(Protocol):
    def __call__(
        self, pool: ConnectionPool, embedder: Embedder, *, loaded: loading.Loaded,
        rows: Sequence[ChunkRow], run_id: str | None,
    ) -> None: ...  # fmt: skip


@dataclass(frozen=True)
class Stages:
    """The five stages of a source, as plain calls or as Prefect tasks (flows/ingest.py)."""

    load: Load
    parse: Parse
    chunk: ChunkStage
    embed: Embed
    store: Store


# The stages as plain calls: load and store retried as the retrying stage tasks are.
PLAIN_STAGES = Stages(
    retried(loading.load), parsing.parse, chunking.chunk, embedding.embed, retried(storing.store)
)


def _nothing(result: SourceResult) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """``flow_run_id``: recorded on the run row; ``finished``: called with each source's
    result once it is stored or failed (a report: its errors are the caller's to swallow)."""

    flow_run_id: str | None = None
    finished: Callable[[SourceResult], None] = _nothing


@dataclass
class Job:
    """One source on its way through the stages."""

    result: SourceResult
    stages: Stages
    error: Exception | None = None
    hooks: Hooks = field(default_factory=Hooks)
    pool: ConnectionPool | None = None
    tracker: RunTracker | None = None
    report: progress.Report | None = None
    embedder: Embedder | None = None
    loaded: loading.Loaded | None = None
    chunks: list[Chunk] = field(default_factory=list)
    rows: list[ChunkRow] = field(default_factory=list)
    stored: bool = False
    sentences: bool = False  # whether the model ranks by sentence too (embed their vectors)


def run_one(
    source_id: str, stages: Stages, hooks: Hooks | None = None
) -> tuple[SourceResult, Exception | None]:
    """Every stage of one source, in turn. Returns its result and the error that failed it."""
    job = prepare(source_id, stages, hooks)
    embed(job)
    return finish(job)


def prepare(source_id: str, stages: Stages, hooks: Hooks | None = None) -> Job:
    """Start the source's run row and its lease, then load, parse and chunk it."""
    hooks = hooks or Hooks()
    settings = get_settings()
    pool = open_pool(settings)
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_tokens)
    try:
        with failures_as(DatabaseError, "starting the source's run"), pool.connection() as conn:
            source = sources_db.get(conn, source_id=source_id)
            if source is None:
                raise NotFoundError(f"data source {source_id} does not exist")
            run_id = runs_db.start(
                conn, chatbot_id=source.chatbot_id, source_id=source_id,
                flow_run_id=hooks.flow_run_id, worker=this_process(),
            )  # fmt: skip
    except IntajError as e:  # nothing was started: the source is as it was
        return Job(SourceResult.never_ran(source_id, e), stages, e, hooks)
    result = SourceResult(source_id=source_id, source=source.path)
    # The run row's heartbeat is its lease (pipeline/run/tracking.py, flows/sweep.py): it runs
    # from here until finish, including while a prepared source waits for the embedder.
    tracker = RunTracker(
        pool, run_id, heartbeat_seconds=settings.heartbeat_seconds, timings=result.timings
    )
    job = Job(result, stages, hooks=hooks, pool=pool, tracker=tracker.__enter__())
    job.report = tracker.reporter(progress.reporter(source_id))
    try:
        model = loading.model_for(pool, settings, source.chatbot_id)
        job.embedder = get_embedder(settings, model)
        job.sentences = embeds_sentences(settings, model)
        with tracker.stage("load"):
            retried(status.processing)(pool, source_id=source_id)
            job.loaded = stages.load(pool, settings, source_id=source_id, spec=spec, model=model)
        job.report("load", 1, 1)
        if not job.loaded.unchanged:
            with tracker.stage("parse"):
                parsed = stages.parse(job.loaded.document, settings, job.loaded.pages)
            with tracker.stage("chunk"):
                job.chunks = stages.chunk(parsed, job.embedder, spec)
            job.report("chunk", len(job.chunks), len(job.chunks))
    except Exception as e:
        job.error = e
    return job


def embed(job: Job, earlier: Mapping[str, np.ndarray] | None = None) -> None:
    """Vectors for a prepared source's chunks (``earlier``: see ``embedding.embed``)."""
    if job.error is not None or job.loaded is None or job.loaded.unchanged:
        return
    # prepared without error: its run, pool and model are set
    assert job.tracker is not None and job.pool is not None and job.embedder is not None
    try:
        with job.tracker.stage("embed"):
            job.rows, job.result.embedded, job.result.reused = job.stages.embed(
                job.pool,
                job.embedder,
                chatbot_id=job.loaded.source.chatbot_id,
                chunks=job.chunks,
                progress=job.report,
                earlier=earlier,
                sentences=job.sentences,
            )
    except Exception as e:
        job.error = e
    job.chunks = []  # the rows carry them on


def finish(job: Job) -> tuple[SourceResult, Exception | None]:
    """Store an embedded source (one transaction swaps its chunks, then it is ready), or
    record why it failed; close its run row and its lease, and report it."""
    result, pool = job.result, job.pool
    if job.tracker is None or pool is None:  # the source was gone before its run started
        return result, job.error
    run_id = job.tracker.run_id
    try:
        with closing(job.tracker):  # stops the lease's heartbeat on the way out
            if job.error is not None:
                raise job.error
            assert job.loaded is not None and job.embedder is not None
            loaded, embedder = job.loaded, job.embedder
            if loaded.unchanged:  # ready again, with the chunks it has
                result.chunks = result.reused = loaded.source.chunk_count
                model = loaded.source.embedding_model or ""
            else:
                with job.tracker.stage("store"):
                    job.stages.store(pool, embedder, loaded=loaded, rows=job.rows, run_id=run_id)
                job.stored = True
                result.chunks, model = len(job.rows), embedder.model_name
            retried(status.ready)(
                pool,
                source_id=loaded.source.id,
                fingerprint=loaded.fingerprint,
                size_bytes=loaded.size_bytes,
                chunk_count=result.chunks,
                model=model,
            )
    except Exception as e:
        result.status = "failed"
        code, message = status.describe(e)
        result.code, result.error = code, message
        _record_failure(pool, result, run_id, code, message)
        _done(job, "failed")
        return result, e
    # the source is ready; with the database gone, its run row is closed later (orphans)
    with unless_unavailable("closing the run"), pool.connection() as conn:
        runs_db.finish(
            conn,
            run_id=run_id,
            status="completed",
            chunks=result.chunks,
            embedded=result.embedded,
            reused=result.reused,
            timings=result.timings,
        )
    _done(job, "done")
    return result, None


def _record_failure(
    pool: ConnectionPool, result: SourceResult, run_id: str, code: str, message: str
) -> None:
    """Mark the source and its run failed. Where the database is gone too, the failure is
    only reported: the run row is left ``running`` and its lease closes it (``worker_lost``)
    once the database is back, at the next command's start (``pipeline/run/orphans.py``) or by
    the sweeper."""
    with unless_unavailable(f"recording the failure of source {result.source_id}"):
        status.failed(pool, source_id=result.source_id, error_code=code, message=message)
        with pool.connection() as conn:
            runs_db.finish(
                conn, run_id=run_id, status="failed", timings=result.timings, error=message
            )


def _done(job: Job, stage: str) -> None:
    result = job.result
    embedding = result.timings.get("embed", 0.0)
    metrics.ingested(result.status, result.code, result.embedded, embedding)
    if job.report is not None:
        job.report(stage, 1, 1)
    job.hooks.finished(job.result)
