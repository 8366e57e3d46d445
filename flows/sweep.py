"""The sweeper: ingestion runs whose heartbeat is older than the lease lost their worker
(killed, machine gone). It fails them and their sources (status 'failed', error_code
'worker_lost', previous chunks kept), so ``retry-failed`` re-runs them; and fails claims whose
run never started. It runs in ``intaj listen``'s loop, in ``retry-failed`` and as ``intaj
sweep``. Where a Prefect server is configured, the lost flow runs are marked Crashed there too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import dispatch as dispatch_db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Swept:
    lost_runs: list[str] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)
    stale_claims: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.lost_runs or self.stale_claims)


def prefect_api_url() -> str | None:
    """The configured Prefect API (None: none, flows would use a temporary local server)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def sweep(
    pool: ConnectionPool,
    settings: Settings,
    *,
    lease_seconds: float | None = None,
    claim_lease_seconds: float | None = None,
) -> Swept:
    lease = settings.run_lease_seconds if lease_seconds is None else lease_seconds
    claim_lease = (
        settings.claim_lease_seconds if claim_lease_seconds is None else claim_lease_seconds
    )
    with pool.connection() as conn:
        lost = dispatch_db.fail_lost_runs(conn, lease_seconds=lease)
        stale = dispatch_db.fail_stale_claims(conn, lease_seconds=claim_lease)
    if lost or stale:
        log.warning("sweeper: %d lost runs, %d stale claims failed", len(lost), len(stale))
    crashed = [r.flow_run_id for r in lost if r.flow_run_id]
    if crashed and prefect_api_url():
        _mark_crashed(crashed)
    return Swept(
        lost_runs=[r.run_id for r in lost],
        failed_sources=[r.source_id for r in lost if r.source_id],
        stale_claims=stale,
    )


def _mark_crashed(flow_run_ids: list[str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            for flow_run_id in flow_run_ids:
                run = client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
                if run.state is not None and not run.state.is_final():
                    client.set_flow_run_state(
                        flow_run_id,  # type: ignore[arg-type]
                        Crashed(message="worker lost: no heartbeat within the lease"),
                        force=True,
                    )
    except Exception as e:  # Prefect's view is a report; the database is the truth
        log.warning("could not mark lost flow runs crashed in Prefect: %s", e)
