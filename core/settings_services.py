"""The local services' settings (issue 29; pipeline/embed/service.py, docs/operations.md): a
block of the one settings object, :class:`core.settings.Settings`, which inherits it (read from
the environment with the same ``INTAJ_`` prefix). Kept in its own module so that
core/settings.py stays under the house's 300 lines."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServicesSettings(BaseModel):
    # Query commands (search, ask, eval) embed their question in the home's embedding service,
    # a process that keeps local models loaded (started by the first such command); false:
    # each command loads the model itself. The service exits after this many idle seconds.
    embedding_service: bool = True
    embedding_service_idle_seconds: float = Field(default=900.0, gt=0)
    # `intaj ingest` runs its flow in the home's flow service (flows/service.py): Prefect's
    # server and a warm worker kept running between commands, started by the first ingest;
    # false: each command starts its own temporary server and runs the flow itself. The
    # service exits after this many seconds without a run.
    flow_service: bool = True
    flow_service_idle_seconds: float = Field(default=900.0, gt=0)
