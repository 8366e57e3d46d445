"""Pipeline functions as Prefect tasks, with the pipeline's one retry policy
(``pipeline/run/retry.py``): transient errors only, after the same delays."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipeline.run.retry import RETRY_DELAYS, is_transient


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only errors marked transient (connection drops, provider outages)."""
    try:
        state.result()
    except Exception as e:
        return is_transient(e)
    return False


def stage_task(fn: Any, name: str, *, retry: bool = False) -> Any:
    """A pipeline function as a Prefect task: no caching or persisted results (tasks pass
    in-process objects); transient errors retried where ``retry`` is set."""
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
