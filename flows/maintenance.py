"""Flows beside ingestion: ``sync-faqs``, ``reembed-chatbot`` and ``retry-failed``.

Parameters are typed (``Literal``, bounded ints) and described in each flow's ``Args:``
docstring, which is where Prefect 3 takes a parameter's description from (it drops an
``Annotated[..., Field(description=...)]`` one), so the Prefect UI renders a described form
for each deployment. A chatbot is named by its name or id (``pipeline/run/refs.py``).
Every run publishes a table artifact (flows/artifacts.py).
Retries (flows/tasks.py) apply only to errors marked transient.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from core.errors import IntajError
from core.settings import get_settings
from db import dispatch as dispatch_db
from db import open_pool
from db import sources as sources_db
from flows import artifacts
from flows.ingest import ingest_data_source
from flows.labels import label_run, resolving
from flows.sweep import sweep
from flows.tasks import stage_task
from pipeline import faqs, plans, reembed
from pipeline.embed import get_embedder
from pipeline.run import refs
from pipeline.stages import loading

sync_faqs_task = stage_task(faqs.sync, "sync-faqs", retry=True)
reembed_task = stage_task(reembed.reembed, "reembed", retry=True)

FAILED = ("failed",)  # what retry-failed claims from


@flow(name="sync-faqs", log_prints=False)
def sync_faqs(chatbot_id: str) -> dict[str, int]:
    """Embed a chatbot's new or changed FAQs (unchanged questions are never embedded again).

    Args:
        chatbot_id: The chatbot: its name (e.g. `demo`) or its id, as `intaj chatbot list`
            shows them.
    """
    settings = get_settings()
    pool = open_pool(settings)
    with resolving(f"sync-faqs {chatbot_id}"):
        bot = refs.chatbot(pool, chatbot_id)
    label_run(f"sync-faqs {bot.name}", bot)
    embedder = get_embedder(settings, loading.model_for(pool, settings, bot.id))
    start = time.perf_counter()
    synced = sync_faqs_task(pool, embedder, chatbot_id=bot.id)
    result = {
        "faqs": synced.faqs,
        "written": synced.written,
        "embedded": synced.embedded,
        "reused": synced.reused,
    }
    artifacts.summary(
        f"sync-faqs-{bot.id}",
        [{"item": "model", "value": embedder.model_name}],
        {**result, "seconds": round(time.perf_counter() - start, 3)},
    )
    return result


@flow(name="reembed-chatbot", log_prints=False)
def reembed_chatbot(
    chatbot_id: str,
    model: Annotated[str, Field(examples=["text-embedding-3-small@512"])],
    drop_previous: bool = False,
) -> dict[str, Any]:
    """Build ``model``'s vectors for every source and FAQ of the chatbot beside the old ones
    (reusing vectors by content hash), then switch the chatbot to it in one transaction
    (``pipeline.reembed``). Any failure leaves the chatbot on its previous model; a switch
    refused because sources changed meanwhile is transient and retried.

    Args:
        chatbot_id: The chatbot: its name (e.g. `demo`) or its id, as `intaj chatbot list`
            shows them.
        model: The new embedding model, as name@dimensions, e.g.
            `text-embedding-3-small@512` or `sentence-transformers/all-MiniLM-L6-v2`.
        drop_previous: Delete the previous model's chunks once the chatbot has switched.
    """
    settings = get_settings()
    pool = open_pool(settings)
    with resolving(f"reembed {chatbot_id}"):
        bot = refs.chatbot(pool, chatbot_id)
    label_run(f"reembed {bot.name} -> {model}", bot)
    rows: list[dict[str, Any]] = []
    clock = [time.perf_counter()]

    def progress(row: dict[str, Any]) -> None:
        now = time.perf_counter()
        name = refs.file_name(str(row["source"])) if row.get("source") else row.get("source")
        rows.append({**row, "item": name, "source": name, "seconds": round(now - clock[0], 3)})
        clock[0] = now

    summary = reembed_task(pool, settings, bot.id, model, drop_old=drop_previous, progress=progress)
    totals = {
        "previous": summary.previous, "model": summary.model, "switched": summary.switched,
        "faqs": summary.faqs, "embedded": summary.embedded, "reused": summary.reused,
        "dropped": summary.dropped, "error": summary.error or "",
    }  # fmt: skip
    artifacts.summary(f"reembed-{bot.id}", rows, totals)
    if not summary.switched:
        raise IntajError(summary.error or "re-embedding failed", code="reembed_incomplete")
    result: dict[str, Any] = summary.as_json()
    return result


@flow(name="retry-failed", log_prints=False)
def retry_failed(
    chatbot_id: str = "",
    error_codes: Sequence[str] = (),
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100,
    sweep_first: bool = True,
) -> list[dict[str, Any]]:
    """Re-run failed sources, each claimed (failed -> processing) so concurrent retries never
    run the same source twice.

    Args:
        chatbot_id: Only this chatbot's sources: its name (e.g. `demo`) or its id. Empty:
            every chatbot.
        error_codes: Only sources failed with these error codes, e.g. `worker_lost`,
            `source_unavailable` (`intaj source list` shows them). Empty: any.
        limit: At most this many sources (1 to 10000).
        sweep_first: Run the sweeper first, which fails the runs that lost their worker so
            they are retried too.
    """
    settings = get_settings()
    pool = open_pool(settings)
    with resolving(f"retry-failed {chatbot_id}"):
        bot = refs.chatbot(pool, chatbot_id) if chatbot_id.strip() else None
    label_run(f"retry-failed {bot.name if bot else 'every chatbot'}", bot)
    if sweep_first:
        sweep(pool, settings)
    with pool.connection() as conn:
        ids = dispatch_db.failed_ids(
            conn,
            chatbot_id=bot.id if bot else None,
            error_codes=list(error_codes) or None,
            limit=limit,
        )
    results: list[dict[str, Any]] = []
    limits = plans.params(settings)  # a source still over its owner's plan stays failed
    for source_id in ids:
        with pool.connection() as conn:
            claimed = dispatch_db.claim(conn, source_id=source_id, from_status=FAILED, plans=limits)
        if claimed is None:
            continue
        start = time.perf_counter()
        state = ingest_data_source(source_id, return_state=True)
        with pool.connection() as conn:
            source = sources_db.get(conn, source_id=source_id)
        results.append({
            "item": refs.label(source) if source else source_id,
            "status": source.status if source else "deleted",
            "chunks": source.chunk_count if source else 0,
            "error": (source.error if source else None) or ("" if state.is_completed() else
                                                            str(state.message)),
            "seconds": round(time.perf_counter() - start, 3),
        })  # fmt: skip
    totals = {
        "retried": len(results),
        "ready": sum(1 for r in results if r["status"] == "ready"),
        "failed": sum(1 for r in results if r["status"] != "ready"),
    }
    artifacts.summary("retry-failed", results, totals)
    get_run_logger().info("retried %d failed sources", len(results))
    return results
