"""Many owners on one pipeline (issue 27): the plans' limits (:class:`PlansSettings`,
core/settings_plans.py; docs/plans.md), the warm worker's metrics endpoint
(docs/operations.md, "Metrics") and fair ingestion (docs/orchestration.md, "Fair
ingestion"): a block of the one settings object, :class:`core.settings.Settings`, which
inherits it (read from the environment with the same ``INTAJ_`` prefix). Kept in its own
module so that core/settings.py stays under the house's 300 lines."""

from __future__ import annotations

from pydantic import Field

from core.settings_plans import PlansSettings


class OperationsSettings(PlansSettings):
    # `intaj serve-flows` (the warm worker) serves Prometheus metrics at
    # http://<host>:<port>/metrics (0: not served). `intaj serve` has /metrics on its own port.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Fair ingestion (docs/orchestration.md, "Fair ingestion"): the upload trigger claims
    # pending sources owner by owner in turn (each owner's oldest first), keeps at most
    # ingest_max_in_flight sources processing (all owners; match the workers' run slots) and
    # at most ingest_owner_max_in_flight of one owner, so one owner's backlog waits in
    # data_sources instead of filling the workers' queue. false: oldest first, all at once.
    ingest_fair: bool = True
    ingest_max_in_flight: int = Field(default=4, ge=1)
    ingest_owner_max_in_flight: int = Field(default=3, ge=1)
    # `intaj listen` in in-process mode (no Prefect server of its own): how many sources it
    # ingests at once, each flow run in a thread. 1 on Prefect's temporary SQLite server:
    # concurrent runs meet its write locks (HTTP 503, then the client's 2 s back-off); raise
    # it with a Prefect server on PostgreSQL (docs/orchestration.md, "Fair ingestion").
    listen_runs: int = Field(default=1, ge=1)
