"""How a flow run presents itself in the Prefect UI, however it was started (an upload, the
CLI, a custom run from the UI, a schedule): a readable name (``ingest handbook.pdf``) and the
same tags, set by the flow itself once it knows what it runs on:

- ``chatbot:<name>`` and ``chatbot:<id>``: the chatbot;
- ``source:<file>``: each source, by its file name or URL (at most :data:`SOURCE_TAGS`);
- ``trigger:<how>``: ``upload`` (the listener and the webhooks tag their runs at creation),
  ``cli`` (a direct call: ``intaj ingest``, Python), ``ui`` (a run of a deployment made from
  the UI or its API: *Custom run*, ``prefect deployment run``, ``run_deployment``),
  ``schedule`` (the deployment's schedule), ``flow`` (a subflow: ``retry-failed``'s sources).

A parameter that names nothing fails the run with one readable line, logged in the run
(:func:`resolving`). Naming is a report: a failed API call is logged, never fatal."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from prefect import get_run_logger
from prefect.context import FlowRunContext

from core.errors import IntajError
from db.chatbots import Chatbot

SOURCE_TAGS = 10  # a run over more sources is tagged with the first ones only
TRIGGER = "trigger:"


def trigger(
    tags: Sequence[str],
    *,
    deployment: bool,
    scheduled: bool,
    subflow: bool,
) -> str | None:
    """The ``trigger:<how>`` tag a run lacks (None when it has one already)."""
    if any(t.startswith(TRIGGER) for t in tags):
        return None
    if scheduled:
        how = "schedule"
    elif subflow:
        how = "flow"
    elif deployment:
        how = "ui"
    else:
        how = "cli"
    return TRIGGER + how


def tags_for(bot: Chatbot | None, sources: Sequence[str]) -> list[str]:
    """The chatbot's tags (name and id) and the sources' (``source:<file>``)."""
    found = [f"chatbot:{bot.name}", f"chatbot:{bot.id}"] if bot is not None else []
    return found + [f"source:{s}" for s in list(dict.fromkeys(sources))[:SOURCE_TAGS]]


def label_run(
    name: str, bot: Chatbot | None = None, sources: Sequence[str] = (), *, say: bool = True
) -> None:
    """Name the current flow run ``name`` and add its tags (see the module's docstring);
    ``say``: log what it runs on."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run = context.flow_run
    how = trigger(
        run.tags,
        deployment=run.deployment_id is not None,
        scheduled=run.auto_scheduled,
        subflow=run.parent_task_run_id is not None,
    )
    tags = list(dict.fromkeys([*run.tags, *tags_for(bot, sources), *([how] if how else [])]))
    logger = get_run_logger()
    try:
        _update(run.id, name, tags)
    except Exception as e:
        logger.warning("could not name this run %r: %s", name, e)
        return
    run.name, run.tags = name, tags
    if not say:
        return
    what = f"chatbot {bot.name} ({bot.id})" if bot is not None else "every chatbot"
    shown = ", ".join(sources[:SOURCE_TAGS]) + (", ..." if len(sources) > SOURCE_TAGS else "")
    logger.info("%s%s", what, f"; {len(sources)} sources: {shown}" if sources else "")


def _update(flow_run_id: Any, name: str, tags: list[str]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run_id, name=name, tags=tags)


@contextmanager
def resolving(title: str) -> Iterator[None]:
    """Around the resolution of a run's parameters: a chatbot or source that does not resolve
    fails the run at once, its one-line reason logged first in the run's logs, and the run
    named ``<title>: refused`` (with its trigger tag) so it can be found."""
    try:
        yield
    except IntajError as e:
        get_run_logger().error("%s", e.message)
        label_run(f"{title}: refused", say=False)
        raise
