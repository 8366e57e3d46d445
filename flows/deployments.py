"""Every flow as a deployment, and the commands that serve them all (``intaj serve-flows``).

``prefect.yaml`` (repo root) declares the same deployments on the process work pool
``intaj-ingest`` for ``prefect deploy --all`` + ``prefect worker start``. ``intaj serve-flows``
is the single-process alternative: by default the warm worker of ``flows/worker.py`` (runs in
its own process, the embedding model loaded once); with ``--process-per-run``, :func:`serve_all`:
``prefect.serve`` polls the server every ``PREFECT_RUNNER_POLL_FREQUENCY`` seconds (1 here, not
Prefect's 10) and runs each flow run in a subprocess, at most ``limit`` at a time.

Each deployment is named for what it does, after its flow: ``ingest-data-source/
ingest-data-source`` (what ``INTAJ_INGEST_DEPLOYMENT`` names, started per upload),
``ingest-chatbot/ingest-chatbot``, ... (they were all named ``intaj`` before, which the UI's
deployment list showed five times). Its description is the flow's docstring up to ``Args:``
(the parameters' descriptions, shown in the run form).
"""

from __future__ import annotations

import os
from typing import Any

WORK_POOL = "intaj-ingest"
TAGS = ["intaj"]


def flows() -> list[Any]:
    from flows.ingest import ingest_chatbot, ingest_data_source
    from flows.maintenance import reembed_chatbot, retry_failed, sync_faqs

    return [ingest_data_source, ingest_chatbot, sync_faqs, reembed_chatbot, retry_failed]


def deployment(f: Any) -> Any:
    """``f``'s deployment (a ``RunnerDeployment``, no work pool), named after the flow."""
    return f.to_deployment(name=f.name, tags=TAGS, description=summary(f.description))


def summary(docstring: str | None) -> str:
    """A flow's description without its ``Args:`` section."""
    return (docstring or "").split("\nArgs:", 1)[0].strip()


def serve_all(*, limit: int = 4) -> None:
    """Create (or update) every deployment and run their flow runs until interrupted."""
    from prefect import serve
    from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings

    updates: dict[Any, Any] = {}
    if "PREFECT_RUNNER_POLL_FREQUENCY" not in os.environ:
        updates[PREFECT_RUNNER_POLL_FREQUENCY] = 1
    with temporary_settings(updates=updates):
        serve(*[deployment(f) for f in flows()], limit=limit, print_starting_message=True)
