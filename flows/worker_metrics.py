"""The warm worker's Prometheus endpoint (issue 27; docs/operations.md, "Metrics"):
``http://INTAJ_WORKER_METRICS_HOST:INTAJ_WORKER_METRICS_PORT/metrics`` (127.0.0.1:9464; port 0:
none), served by ``prometheus_client``'s own thread. It shows what this process does (runs and
failures by error code, chunks embedded and the seconds it took, model loads) and the
ingestion queue by status, read from the database at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core import metrics
from core.settings import Settings

log = logging.getLogger(__name__)


def serve_metrics(settings: Settings, announce: Callable[[str], None] = log.info) -> Any:
    """Start the endpoint (before the model loads, so they are counted): its server (a
    ``wsgiref`` server: ``shutdown()`` stops it), or None when it is off or its port is taken
    (said, not fatal: the worker runs without it)."""
    port, host = settings.worker_metrics_port, settings.worker_metrics_host
    if not port:
        return None
    from prometheus_client import start_http_server

    from db import dispatch as dispatch_db
    from db import open_pool

    pool = open_pool(settings)

    def queue() -> dict[str, int]:
        with pool.connection(timeout=2) as conn:
            return dispatch_db.queue_depth(conn)

    metrics.watch_queue(queue)
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as e:
        announce(f"metrics not served: {host}:{port} is taken ({e}); set INTAJ_WORKER_METRICS_PORT")
        return None
    announce(f"metrics at http://{host}:{port}/metrics")
    return server
