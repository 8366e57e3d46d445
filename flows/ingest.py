"""Ingestion flows. Each stage of ``pipeline.ingest`` runs as one Prefect task; the flows pass
ids between processes, and in-process objects between the tasks of one run (results are not
persisted, so no bytes or vectors reach Prefect's storage).

Flows:
- ``ingest-data-source``: one source;
- ``ingest-chatbot``: a chatbot's sources (all, or only those pending or failed).
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from core.errors import IntajError
from core.settings import get_settings
from db import open_pool
from db import runs as runs_db
from db import sources as sources_db
from flows import artifacts, progress
from flows.tracking import RunTracker
from pipeline import ingest
from pipeline.chunk import ChunkSpec
from pipeline.embed import get_embedder

Which = Literal["all", "pending", "failed", "pending_or_failed"]


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
        retries=2,
        retry_delay_seconds=[1, 5],
        retry_condition_fn=_transient,
    )


load_task = _stage(ingest.load, "load", retry=True)
parse_task = _stage(ingest.parse, "parse")
chunk_task = _stage(ingest.chunk, "chunk")
# Not retried here: the embedding client already retries within its budget
# (INTAJ_OPENAI_MAX_RETRIES), and retries at both levels would multiply it.
embed_task = _stage(ingest.embed, "embed")
store_task = _stage(ingest.store, "store", retry=True)


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
    settings = get_settings()
    pool = open_pool(settings)
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_tokens)
    with pool.connection() as conn:
        source = sources_db.get(conn, source_id=source_id)
    if source is None:
        missing = IntajError(f"data source {source_id} does not exist", code="not_found")
        gone = ingest.SourceResult(source_id, source_id, status="failed", error=missing.message)
        return gone, missing
    result = ingest.SourceResult(source_id=source_id, source=source.path)
    with pool.connection() as conn:
        run_id = runs_db.start(
            conn,
            chatbot_id=source.chatbot_id,
            source_id=source_id,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
        )
    # The run row's heartbeat is its lease (flows/tracking.py, flows/sweep.py).
    tracker = RunTracker(
        pool, run_id, heartbeat_seconds=settings.heartbeat_seconds, timings=result.timings
    )
    report = tracker.reporter(progress.reporter(source_id))
    try:
        with tracker:
            model = ingest.model_for(pool, settings, source.chatbot_id)
            embedder = get_embedder(settings, model)
            with tracker.stage("load"):
                loaded = load_task(pool, settings, source_id=source_id, spec=spec, model=model)
            report("load", 1, 1)
            if loaded.unchanged:
                ingest.mark_unchanged(pool, loaded)
                result.chunks = result.reused = loaded.source.chunk_count
            else:
                _run_stages(pool, settings, embedder, loaded, spec, tracker, result, report)
    except Exception as e:
        result.status = "failed"
        result.code, result.error = ingest.mark_failed(pool, source_id=source_id, error=e)
        with pool.connection() as conn:
            runs_db.finish(
                conn, run_id=run_id, status="failed", timings=result.timings, error=result.error
            )
        report("failed", 1, 1)
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
    report("done", 1, 1)
    artifacts.source_run(result)
    return result, None


def _run_stages(
    pool: Any,
    settings: Any,
    embedder: Any,
    loaded: ingest.Loaded,
    spec: ChunkSpec,
    tracker: RunTracker,
    result: ingest.SourceResult,
    report: progress.Report,
) -> None:
    with tracker.stage("parse"):
        parsed = parse_task(loaded.document, settings, loaded.pages)
    with tracker.stage("chunk"):
        chunks = chunk_task(parsed, embedder, spec)
    report("chunk", len(chunks), len(chunks))
    with tracker.stage("embed"):
        rows, result.embedded, result.reused = embed_task(
            pool, embedder, chatbot_id=loaded.source.chatbot_id, chunks=chunks, progress=report
        )
    with tracker.stage("store"):
        store_task(pool, embedder, loaded=loaded, rows=rows, run_id=tracker.run_id)
    result.chunks = len(rows)


@flow(name="ingest-chatbot", log_prints=False)
def ingest_chatbot(
    chatbot_id: str, which: Which = "all", source_ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """Ingest a chatbot's sources one by one; one failing source never stops the others."""
    settings = get_settings()
    pool = open_pool(settings)
    with pool.connection() as conn:
        sources = sources_db.list_for(conn, chatbot_id=chatbot_id)
    if source_ids is not None:  # in the order given
        by_id = {s.id: s for s in sources}
        sources = [by_id[i] for i in dict.fromkeys(source_ids) if i in by_id]
    chosen = [s for s in sources if which == "all" or s.status in which.split("_or_")]
    # Each source's stages run as tasks of this flow run (a subflow per source would cost
    # seconds of orchestration each); a failing source is recorded and the next one goes on.
    results = []
    for source in chosen:
        result, error = ingest_one(source.id)
        if error is not None:
            get_run_logger().warning("source %s failed: %s", source.path, result.error)
        results.append(result.as_json())
    _publish_summary(results)
    return results


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
