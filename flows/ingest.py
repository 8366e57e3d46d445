"""Ingestion flows: the source lifecycle of ``pipeline/run`` as Prefect tasks and flows. The
flows pass ids between processes, and in-process objects between the tasks of one run
(results are not persisted, so no bytes or vectors reach Prefect's storage).

Flows:
- ``ingest-data-source``: one source (an upload), one task run (``ingest-source``);
- ``ingest-chatbot``: a chatbot's sources (all, or only those pending or failed), each source
  one task run (``ingest-source``).

In both a source's stages are plain calls inside its task run, load and store retried on
transient errors as a retrying task would be (``pipeline/run/retry.py``), each logged on the
run's page (flows/stage_logs.py). Task runs are what Prefect's server spends its CPU on: one
per stage cost the server about 5 s of CPU per 18 sources of ``ingest-chatbot`` on the 2-core
development machine, and under a backlog of uploads the server's share of the CPU slowed
every other owner's upload (docs/orchestration.md, "Fair ingestion").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from psycopg_pool import ConnectionPool

from core.settings import get_settings
from db import chatbots as chatbots_db
from db import open_pool
from db.chatbots import Chatbot
from db.sources import DataSource
from flows import artifacts
from flows.labels import label_run, resolving
from flows.stage_logs import logged
from pipeline import plans
from pipeline.run import job as lifecycle
from pipeline.run import refs
from pipeline.run.line import LOOKAHEAD, Line, Outcome, Which, in_line
from pipeline.run.line import pipelined as overlapped
from pipeline.run.result import SourceResult

# The stages as plain calls inside each source's task run, each logging what it did.
# Embedding is not retried here: the embedding client already retries within its budget
# (INTAJ_OPENAI_MAX_RETRIES), and retries at both levels would multiply it.
LINE_STAGES = logged(lifecycle.PLAIN_STAGES)


def _hooks() -> lifecycle.Hooks:
    """The current flow run on each run row, and each source's artifact."""
    return lifecycle.Hooks(
        flow_run_id=str(flow_run.id) if flow_run.id else None, finished=artifacts.source_run
    )


@flow(name="ingest-data-source", log_prints=False)
def ingest_data_source(source_id: str) -> dict[str, Any]:
    """Fetch, parse, chunk, embed and store one data source. Its previous chunks stay in
    place until the new set is complete; a failure leaves them and marks the source failed
    (and fails this flow run). Each upload starts one run of this flow.

    Args:
        source_id: The source: its file name (e.g. `northwind-handbook.pdf`), its URL, or its
            id (`intaj source list --chatbot NAME --json` shows them). A file name that two
            chatbots have is refused with both listed: enter the id then.
    """
    settings = get_settings()
    with resolving(f"ingest {source_id}"):
        source = refs.source(open_pool(settings), source_id)
    name = refs.label(source)
    label_run(f"ingest {name}", _owner(source.chatbot_id), [name])
    refused = plans.refuse_unclaimed(open_pool(settings), settings, source_ids=[source.id])
    if source.id in refused:  # a run from the UI on a source no claim admitted
        raise refused[source.id]
    result, error = ingest_one(source.id, name)
    if error is not None:
        raise error
    return result.as_json()


def _owner(chatbot_id: str) -> Chatbot | None:
    """The source's chatbot, for the run's tags (None if it was deleted meanwhile)."""
    with open_pool(get_settings()).connection() as conn:
        return chatbots_db.get(conn, chatbot_id=chatbot_id)


def ingest_one(source_id: str, name: str) -> Outcome:
    """One source as an ``ingest-source`` task run (``name``: its name) of the current flow
    run. Returns the result and the error that failed it, if any (recorded on the source and
    its run row)."""
    try:
        return ingest_lone_source(source_id, name), None
    except SourceFailed as failed:
        return failed.result, failed.error


@flow(name="ingest-chatbot", log_prints=False)
def ingest_chatbot(
    chatbot_id: str, which: Which = "all", source_ids: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Ingest a chatbot's sources; one failing source never stops the others.

    Each source is one task run of this flow run (``ingest-source``), named after its file;
    the run's summary artifact lists them.

    Args:
        chatbot_id: The chatbot: its name (e.g. `demo`) or its id, as `intaj chatbot list`
            shows them.
        which: Which of its sources: `all`, `pending` (never ingested), `failed`, or
            `pending_or_failed`.
        source_ids: Only these sources: file names (e.g. `northwind-handbook.pdf`), URLs or
            ids, as `intaj source list` shows them. Empty: every source of the chatbot.
    """
    # The sources run as a pipeline (pipeline/run/line.py): while one embeds, the next are
    # prepared and the one before is stored; results come back in order.
    pool = open_pool(get_settings())
    with resolving(f"ingest {chatbot_id}"):
        bot = refs.chatbot(pool, chatbot_id)
        sources = refs.chosen(pool, bot, which, source_ids)
    names = [refs.label(s) for s in sources]
    only = f" {names[0]}" if len(names) == 1 else f": {len(names)} sources"
    label_run(f"ingest {bot.name}{only}", bot, names)
    results = []
    outcomes = _within_plan(pool, sources, names)
    for name, (result, error) in zip(names, outcomes, strict=True):
        if error is not None:
            get_run_logger().warning("source %s failed: %s", name, result.error)
        results.append(result.as_json())
    artifacts.chatbot_run(results, chatbot=bot.name)
    return results


def _within_plan(
    pool: ConnectionPool, sources: Sequence[DataSource], names: Sequence[str]
) -> Iterator[Outcome]:
    """:func:`pipelined`'s outcomes for ``sources``, in order; those no claim admitted and over
    their owner's plan (a run from the Prefect UI on rows the SaaS inserted) are failed with
    ``plan_limit`` instead of run, as the upload trigger's claim would fail them."""
    refused = plans.refuse_unclaimed(pool, get_settings(), source_ids=[s.id for s in sources])
    admitted = [(s.id, n) for s, n in zip(sources, names, strict=True) if s.id not in refused]
    ran = pipelined([i for i, _ in admitted], names=[n for _, n in admitted])
    for source in sources:
        error = refused.get(source.id)
        if error is None:
            yield next(ran)
        else:
            yield SourceResult.never_ran(source.id, error, source=source.path), error


class SourceFailed(Exception):
    """Raised by the ``ingest-source`` task so its run ends Failed in Prefect; carries the
    source's result (already recorded on the source and its run row)."""

    def __init__(self, result: SourceResult, error: Exception):
        super().__init__(result.error or str(error))
        self.result = result
        self.error = error


@task(name="ingest-source", task_run_name="{name}", cache_policy=NO_CACHE, persist_result=False)
def ingest_source(source_id: str, name: str, line: Line, index: int) -> SourceResult:
    """One source of ``ingest-chatbot`` (:func:`pipeline.run.line.in_line`). Raises
    :class:`SourceFailed` when the source failed."""
    result, error = in_line(source_id, line, index, LINE_STAGES, _hooks())
    if error is not None:
        raise SourceFailed(result, error)
    return result


@task(name="ingest-source", task_run_name="{name}", cache_policy=NO_CACHE, persist_result=False)
def ingest_lone_source(source_id: str, name: str) -> SourceResult:
    """The one source of ``ingest-data-source``. Raises :class:`SourceFailed` when it failed."""
    result, error = lifecycle.run_one(source_id, LINE_STAGES, _hooks())
    if error is not None:
        raise SourceFailed(result, error)
    return result


def pipelined(
    source_ids: Sequence[str], *, names: Sequence[str] | None = None, lookahead: int = LOOKAHEAD
) -> Iterator[Outcome]:
    """``ingest-source`` for each source (``names``: their task runs' names), in order, with
    neighbouring sources overlapped; the task runs belong to the current flow run."""
    return overlapped(source_ids, _run_source, names=names, lookahead=lookahead)


def _run_source(source_id: str, name: str, line: Line, index: int) -> Outcome:
    try:
        return ingest_source(source_id, name, line, index), None
    except SourceFailed as failed:
        return failed.result, failed.error
