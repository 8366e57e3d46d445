"""Every flow as a deployment, and the commands that serve them all (``intaj serve-flows``).

``prefect.yaml`` (repo root) declares the same deployments on the process work pool
``intaj-ingest`` for ``prefect deploy --all`` + ``prefect worker start``. ``intaj serve-flows``
is the single-process alternative: by default the warm worker of ``flows/worker.py`` (runs in
its own process, the embedding model loaded once); with ``--process-per-run``, :func:`serve_all`:
``prefect.serve`` polls the server every ``PREFECT_RUNNER_POLL_FREQUENCY`` seconds (1 here, not
Prefect's 10) and runs each flow run in a subprocess, at most ``limit`` at a time. All use the
deployment name ``intaj``, which is what ``INTAJ_INGEST_DEPLOYMENT``
(``ingest-data-source/intaj``) names.
"""

from __future__ import annotations

import os
from typing import Any

DEPLOYMENT_NAME = "intaj"
WORK_POOL = "intaj-ingest"


def flows() -> list[Any]:
    from flows.ingest import ingest_chatbot, ingest_data_source
    from flows.maintenance import reembed_chatbot, retry_failed, sync_faqs

    return [ingest_data_source, ingest_chatbot, sync_faqs, reembed_chatbot, retry_failed]


def serve_all(*, limit: int = 4, name: str = DEPLOYMENT_NAME) -> None:
    """Create (or update) every deployment and run their flow runs until interrupted."""
    from prefect import serve
    from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings

    updates: dict[Any, Any] = {}
    if "PREFECT_RUNNER_POLL_FREQUENCY" not in os.environ:
        updates[PREFECT_RUNNER_POLL_FREQUENCY] = 1
    deployments = [
        f.to_deployment(name=name, tags=["intaj"], description=(f.description or "").strip())
        for f in flows()
    ]
    with temporary_settings(updates=updates):
        serve(*deployments, limit=limit, print_starting_message=True)
