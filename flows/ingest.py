"""Ingestion flows. Each stage of ``pipeline.ingest`` runs as one Prefect task; the flows pass
ids between processes, and in-process objects between the tasks of one run (results are not
persisted, so no bytes or vectors reach Prefect's storage).

Flows:
- ``ingest-data-source``: one source;
- ``ingest-chatbot``: a chatbot's sources (all, or only those pending or failed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from core.errors import IntajError
from core.settings import get_settings
from core.types import Chunk
from db import open_pool
from db import runs as runs_db
from db import sources as sources_db
from db.chunks import ChunkRow
from flows import artifacts, progress
from flows.tracking import RunTracker
from pipeline import ingest
from pipeline.chunk import ChunkSpec
from pipeline.embed import get_embedder

log = logging.getLogger(__name__)
T = TypeVar("T")
Which = Literal["all", "pending", "failed", "pending_or_failed"]
# Sources loaded, parsed and chunked ahead of the one embedding, one after another. A deep
# buffer keeps the preparing thread busy while the model embeds, so a long parse (a manual of
# hundreds of pages) finds the embedder with work queued instead of idle: 26 files of the large
# corpus, 6 manuals among them, alternating A/B on 2 cores: 1 ahead 38.5 s, 4 ahead 33.2 s,
# 8 ahead 31.7 s; two sources preparing at once gained nothing over one (36.1 s, 2 ahead).
# Each waiting source holds only its chunks' text.
LOOKAHEAD = 8
RETRY_DELAYS = (1.0, 5.0)  # seconds before each retry of a stage (transient errors only)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only errors marked transient (connection drops, provider outages)."""
    try:
        state.result()
    except IntajError as e:
        return e.transient
    except Exception:
        return False
    return False


def _stage(fn: Any, name: str, *, retry: bool = False) -> Any:
    """A pipeline function as a Prefect task: no caching or persisted results (tasks pass
    in-process objects); transient errors retried with backoff where ``retry`` is set."""
    if not retry:
        return task(fn, name=name, cache_policy=NO_CACHE, persist_result=False)
    return task(
        fn,
        name=name,
        cache_policy=NO_CACHE,
        persist_result=False,
        retries=len(RETRY_DELAYS),
        retry_delay_seconds=list(RETRY_DELAYS),
        retry_condition_fn=_transient,
    )


load_task = _stage(ingest.load, "load", retry=True)
parse_task = _stage(ingest.parse, "parse")
chunk_task = _stage(ingest.chunk, "chunk")
# Not retried here: the embedding client already retries within its budget
# (INTAJ_OPENAI_MAX_RETRIES), and retries at both levels would multiply it.
embed_task = _stage(ingest.embed, "embed")
store_task = _stage(ingest.store, "store", retry=True)


def _retried(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` retried on transient errors as the retrying stage tasks are, as a plain call."""

    def call(*args: Any, **kwargs: Any) -> T:
        for delay in RETRY_DELAYS:
            try:
                return fn(*args, **kwargs)
            except IntajError as e:
                if not e.transient:
                    raise
                log.warning("%s failed (%s); retrying in %g s", fn.__name__, e.message, delay)
                time.sleep(delay)
        return fn(*args, **kwargs)  # the last try: its error is the stage's

    return call


@dataclass(frozen=True)
class Stages:
    load: Callable[..., Any]
    parse: Callable[..., Any]
    chunk: Callable[..., Any]
    embed: Callable[..., Any]
    store: Callable[..., Any]


# ``ingest-data-source``: each stage is a task run of the flow run.
STAGE_TASKS = Stages(load_task, parse_task, chunk_task, embed_task, store_task)
# ``ingest-chatbot``: each source is one task run and its stages plain calls (same retries).
# The Prefect server records every task run, and on the 2-core development machine five per
# source cost it about 5 s of CPU per 18 sources, taken from the embedder (docs/orchestration.md).
PLAIN_STAGES = Stages(
    _retried(ingest.load), ingest.parse, ingest.chunk, ingest.embed, _retried(ingest.store)
)


@flow(name="ingest-data-source", log_prints=False)
def ingest_data_source(source_id: str) -> dict[str, Any]:
    """Fetch, parse, chunk, embed and store one data source. Its previous chunks stay in
    place until the new set is complete; a failure leaves them and marks the source failed
    (and fails this flow run)."""
    result, error = ingest_one(source_id)
    if error is not None:
        raise error
    return result.as_json()


def ingest_one(source_id: str) -> tuple[ingest.SourceResult, Exception | None]:
    """The stages of one source as tasks of the current flow run. Returns the result and the
    error that failed it, if any (recorded on the source and its run row)."""
    job = _prepare(source_id, STAGE_TASKS)
    _embed(job)
    return _finish(job)


@dataclass
class _Job:
    """One source on its way through the stages: prepared (load, parse, chunk), embedded,
    then finished (store, run row, artifact). ``error`` stops the stages that follow."""

    result: ingest.SourceResult
    stages: Stages
    error: Exception | None = None
    pool: Any = None
    tracker: RunTracker | None = None
    report: progress.Report | None = None
    embedder: Any = None
    loaded: ingest.Loaded | None = None
    chunks: list[Chunk] = field(default_factory=list)
    rows: list[ChunkRow] = field(default_factory=list)
    stored: bool = False


def _prepare(source_id: str, stages: Stages) -> _Job:
    """Start the source's run row and its lease, then load, parse and chunk it."""
    settings = get_settings()
    pool = open_pool(settings)
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_tokens)
    with pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    if source is None:
        missing = IntajError(f"data source {source_id} does not exist", code="not_found")
        gone = ingest.SourceResult(source_id, source_id, status="failed", error=missing.message)
        return _Job(gone, stages, missing)
    result = ingest.SourceResult(source_id=source_id, source=source.path)
    with pool.connection() as conn:
        run_id = runs_db.start(
            conn,
            chatbot_id=source.chatbot_id,
            source_id=source_id,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
        )
    # The run row's heartbeat is its lease (flows/tracking.py, flows/sweep.py): it runs from
    # here until _finish, including while a prepared source waits for the embedder.
    tracker = RunTracker(
        pool, run_id, heartbeat_seconds=settings.heartbeat_seconds, timings=result.timings
    )
    job = _Job(result, stages, pool=pool, tracker=tracker.__enter__())
    job.report = tracker.reporter(progress.reporter(source_id))
    try:
        model = ingest.model_for(pool, settings, source.chatbot_id)
        job.embedder = get_embedder(settings, model)
        with tracker.stage("load"):
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


def _embed(job: _Job, earlier: Mapping[str, Any] | None = None) -> None:
    """Vectors for a prepared source's chunks (``earlier``: see ``ingest.embed``)."""
    if job.error is not None or job.loaded is None or job.loaded.unchanged:
        return
    assert job.tracker is not None
    try:
        with job.tracker.stage("embed"):
            job.rows, job.result.embedded, job.result.reused = job.stages.embed(
                job.pool,
                job.embedder,
                chatbot_id=job.loaded.source.chatbot_id,
                chunks=job.chunks,
                progress=job.report,
                earlier=earlier,
            )
    except Exception as e:
        job.error = e
    job.chunks = []  # the rows carry them on


def _finish(job: _Job) -> tuple[ingest.SourceResult, Exception | None]:
    """Store an embedded source (one transaction swaps its chunks), or record why it failed;
    close its run row, its lease and its artifact."""
    result, pool = job.result, job.pool
    if job.tracker is None:  # the source was gone before its run started
        return result, job.error
    run_id = job.tracker.run_id
    try:
        with closing(job.tracker):  # stops the lease's heartbeat on the way out
            if job.error is not None:
                raise job.error
            assert job.loaded is not None and job.report is not None
            if job.loaded.unchanged:
                ingest.mark_unchanged(pool, job.loaded)
                result.chunks = result.reused = job.loaded.source.chunk_count
            else:
                with job.tracker.stage("store"):
                    job.stages.store(
                        pool, job.embedder, loaded=job.loaded, rows=job.rows, run_id=run_id
                    )
                job.stored = True
                result.chunks = len(job.rows)
    except Exception as e:
        result.status = "failed"
        result.code, result.error = ingest.mark_failed(pool, source_id=result.source_id, error=e)
        with pool.connection() as conn:
            runs_db.finish(
                conn, run_id=run_id, status="failed", timings=result.timings, error=result.error
            )
        _report(job, "failed")
        artifacts.source_run(result)
        return result, e
    with pool.connection() as conn:
        runs_db.finish(
            conn,
            run_id=run_id,
            status="completed",
            chunks=result.chunks,
            embedded=result.embedded,
            reused=result.reused,
            timings=result.timings,
        )
    _report(job, "done")
    artifacts.source_run(result)
    return result, None


def _report(job: _Job, stage: str) -> None:
    if job.report is not None:
        job.report(stage, 1, 1)


@flow(name="ingest-chatbot", log_prints=False)
def ingest_chatbot(
    chatbot_id: str, which: Which = "all", source_ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """Ingest a chatbot's sources; one failing source never stops the others.

    Each source is one task run of this flow run (``ingest-source``; its stage times are in
    its artifact and its ``ingestion_runs`` row). The sources run as a pipeline: while source
    N embeds (the model has the cores), the next sources are loaded, parsed and chunked, one
    at a time, up to ``LOOKAHEAD`` ahead, and source N-1 is stored; sources embed one at a
    time, in order. Each source's swap is its own transaction, and its result and errors are
    those of a run on its own; results come back in order."""
    settings = get_settings()
    pool = open_pool(settings)
    with pool.connection() as conn:
        sources = sources_db.list_for(conn, chatbot_id=chatbot_id)
    if source_ids is not None:  # in the order given
        by_id = {s.id: s for s in sources}
        sources = [by_id[i] for i in dict.fromkeys(source_ids) if i in by_id]
    chosen = [s for s in sources if which == "all" or s.status in which.split("_or_")]
    results = []
    for result, error in pipelined(
        [s.id for s in chosen], names=[s.name or s.path for s in chosen]
    ):
        if error is not None:
            get_run_logger().warning("source %s failed: %s", result.source, result.error)
        results.append(result.as_json())
    _publish_summary(results)
    return results


class SourceFailed(Exception):
    """Raised by the ``ingest-source`` task so its run ends Failed in Prefect; carries the
    source's result (already recorded on the source and its run row)."""

    def __init__(self, result: ingest.SourceResult, error: Exception):
        super().__init__(result.error or str(error))
        self.result = result
        self.error = error


@task(name="ingest-source", task_run_name="{name}", cache_policy=NO_CACHE, persist_result=False)
def ingest_source(source_id: str, name: str, line: _Line, index: int) -> ingest.SourceResult:
    """One source of ``ingest-chatbot``: prepared as soon as a thread takes it, embedded in
    its turn, then stored. Raises :class:`SourceFailed` when the source failed."""
    try:
        with line.preparing:
            job = _prepare(source_id, PLAIN_STAGES)
    except BaseException:  # a source that could not even start still hands the turn on
        line.embed_in_turn(index, None)
        raise
    line.embed_in_turn(index, job)
    try:
        result, error = _finish(job)
    finally:
        line.stored(index)
    if error is not None:
        raise SourceFailed(result, error)
    return result


class _Line:
    """The order sources embed in: one at a time, by index. Also what a source embedding now
    may reuse: vectors of earlier sources of this run whose store has not committed (what a
    run one source at a time would find stored)."""

    def __init__(self) -> None:
        self.preparing = threading.Semaphore(1)  # one source loads, parses and chunks at a time
        self.stopping = False
        self._changed = threading.Condition()
        self._next = 0  # the index whose turn it is
        self._skipped: set[int] = set()
        self._unstored: dict[int, _Job] = {}

    def embed_in_turn(self, index: int, job: _Job | None) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._next == index)
            earlier = self._earlier(job) if job is not None else {}
        try:
            if job is not None and job.error is None and self.stopping:
                job.error = IntajError(
                    "the ingestion was interrupted before this source was embedded; run it again",
                    code="interrupted",
                    transient=True,
                )
            if job is not None:
                _embed(job, earlier)
        finally:
            with self._changed:
                if job is not None and job.rows:
                    self._unstored[index] = job
                self._advance()

    def skip(self, index: int) -> None:
        """A source that will never run (cancelled): its turn passes."""
        with self._changed:
            self._skipped.add(index)
            if self._next == index:
                self._advance()

    def stored(self, index: int) -> None:
        """The source's store is over (committed, or failed and will never be)."""
        with self._changed:
            self._unstored.pop(index, None)

    def _advance(self) -> None:
        self._next += 1
        while self._next in self._skipped:
            self._next += 1
        self._changed.notify_all()

    def _earlier(self, job: _Job) -> dict[str, Any]:
        if job.loaded is None or job.embedder is None:
            return {}
        earlier: dict[str, Any] = {}
        for other in self._unstored.values():
            if other.loaded is None or other.embedder is None:
                continue
            same_bot = other.loaded.source.chatbot_id == job.loaded.source.chatbot_id
            if same_bot and other.embedder.model_name == job.embedder.model_name:
                earlier.update((r.content_hash, r.embedding) for r in other.rows)
        return earlier


def pipelined(
    source_ids: Sequence[str], *, names: Sequence[str] | None = None, lookahead: int = LOOKAHEAD
) -> Iterator[tuple[ingest.SourceResult, Exception | None]]:
    """``ingest-source`` for each source (``names``: their task runs' names), in order, with
    neighbouring sources overlapped (see ``ingest_chatbot``). The threads run in a copy of
    this thread's context, so their task runs belong to the current flow run. Yields each
    source's result and the error that failed it, if any."""
    line = _Line()
    # One source embedding, ``lookahead`` being prepared, one storing.
    threads = ThreadPoolExecutor(lookahead + 2, thread_name_prefix="intaj-source")
    labels = list(names) if names is not None else list(source_ids)
    futures = [
        threads.submit(copy_context().run, _run_source, source_id, label, line, index)
        for index, (source_id, label) in enumerate(zip(source_ids, labels, strict=True))
    ]
    try:
        for future in futures:
            yield future.result()
    finally:  # all done, or interrupted: the sources running finish, no other starts
        line.stopping = True
        for index, future in enumerate(futures):
            if future.cancel():  # never started: it must not hold up the ones running
                line.skip(index)
        threads.shutdown(wait=True)


def _run_source(
    source_id: str, name: str, line: _Line, index: int
) -> tuple[ingest.SourceResult, Exception | None]:
    try:
        return ingest_source(source_id, name, line, index), None
    except SourceFailed as failed:
        return failed.result, failed.error


def _publish_summary(results: list[dict[str, Any]]) -> None:
    lines = [
        "| source | status | chunks | embedded | reused | error |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['source']} | {r['status']} | {r['chunks']} | {r['embedded']} | {r['reused']}"
            f" | {r['error'] or ''} |"
        )
    try:
        create_markdown_artifact(
            key="ingestion-summary", markdown="\n".join(lines), description="Ingestion summary"
        )
    except Exception as e:  # an artifact is a report, never a reason to fail the run
        get_run_logger().warning("could not publish the summary artifact: %s", e)
