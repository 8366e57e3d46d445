"""The warm worker (``intaj serve-flows``): every flow as a deployment, and each of their flow
runs executed in this process, on a thread of its own, with the embedding model loaded once.

``prefect.serve`` and ``prefect worker start`` run each flow run in a new process, which
imports Prefect and our packages and loads the embedding model again: on the 2-core
development machine a small upload took 34 s from trigger to ready that way, against 1.9 s
for a listener that keeps the model (docs/orchestration.md). This worker is the deployed form
of that warm process:

- on start it creates (or updates) every deployment (``<flow>/<flow>``, no work pool: what
  ``prefect.serve`` creates), loads the default embedding model, readies the parse sandbox
  and imports Prefect's flow and task engines;
- every ``poll_seconds`` it asks the server for the scheduled runs of those deployments (the
  endpoint ``prefect.serve`` polls) while it has a free slot (``limit``), and claims each by
  proposing the Pending state: the server accepts it once per run, so several workers (one
  per machine) never run the same run;
- it runs a claimed run with Prefect's flow engine (``run_flow`` on the server's flow run, as
  ``python -m prefect.engine`` does in a child process): states, logs, task runs and artifacts
  are recorded as usual, and a rerun or custom run from the UI is one more scheduled run;
- ``stop`` ends the polling; the runs in flight finish first.

A process per run also gives hard cancellation (the runner kills the process); here a running
ingestion cannot be killed from the UI and finishes (a source's swap is atomic either way).
A worker that dies stops renewing its runs' leases: the sweeper fails them (``flows/sweep.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from core.settings import Settings
from flows.deployments import deployment, flows
from flows.run_wakeups import wake_on_new_runs
from flows.startup import without_flow_heartbeat
from flows.warm_runs import close_clients, keep_a_client, run_flow_here
from flows.worker_metrics import serve_metrics
from pipeline.embed import get_embedder
from pipeline.embed.registry import loads
from pipeline.embed.runtime import pending_build

log = logging.getLogger(__name__)

QUIET_SECONDS = 10.0


def warm_up(settings: Settings) -> None:
    """What the first flow run would otherwise wait for: the default embedding model, the
    parse sandbox's fork server, Prefect's flow and task engines."""
    get_embedder(settings)
    if settings.parse_sandbox:
        from pipeline.parse import sandbox

        sandbox.warm_up(wait=False)  # it loads the parsers while this process goes on
    import prefect.flow_engine
    import prefect.task_engine  # noqa: F401


def register(only: Collection[str] | None = None) -> dict[UUID, Any]:
    """Create or update every flow's deployment ``<flow>/<flow>`` (``only``: these flows');
    returns the flow of each deployment id."""
    return {deployment(f).apply(): f for f in flows() if only is None or f.name in only}


@dataclass
class WarmWorker:
    """Polls the Prefect server for its deployments' scheduled runs and runs them here."""

    settings: Settings
    limit: int = 4
    poll_seconds: float = 0.5
    stop: threading.Event = field(default_factory=threading.Event)
    announce: Callable[[str], None] = log.info
    finished: int = 0
    # Set to poll at once (the flow service's SIGUSR1: a command just created a run).
    wake: threading.Event = field(default_factory=threading.Event)
    # Stop after this many seconds with no run in flight (None: never).
    idle_seconds: float | None = None
    # Called once the deployments exist and the model is loaded (with ``ready_with``: those
    # deployments, and the caller warms up), with their ids by flow name.
    ready: Callable[[dict[str, UUID]], None] | None = None
    # Cancel the runs already scheduled when it starts (the flow service: they were created
    # for a service that ended, and their commands ran them themselves); of the deployments
    # registered before ready (``ready_with``), the ones commands create runs of.
    cancel_earlier: bool = False
    # Ready once these flows' deployments exist, before the others' and without the warm-up
    # (the flow service: a command waits for ``ingest-chatbot`` alone, and the service warms
    # up before it runs the worker). None: every deployment, warmed up.
    ready_with: Collection[str] | None = None
    # Poll at once when the upload trigger announces a run (flows/run_wakeups.py). The flow
    # service's runs are created by commands, which wake it with SIGUSR1: no LISTEN there.
    wake_on_announced: bool = True
    _running: set[UUID] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_run: float = field(default_factory=time.monotonic)

    def run(self) -> None:
        from prefect.client.orchestration import get_client

        served = register(self.ready_with)
        if self.ready_with is None:
            self._warm_up()
        if self.cancel_earlier:  # before ready: a command's new run is not one of them
            _cancel_scheduled(served)
        if self.ready is not None:
            self.ready({flow.name: deployment_id for deployment_id, flow in served.items()})
        serve_metrics(self.settings, self.announce)  # /metrics (flows/worker_metrics.py)
        if self.wake_on_announced:
            wake_on_new_runs(self.settings, self.wake, self.stop)
        self.announce(
            f"serving {len(served)} deployments in this process: at most"
            f" {self.limit} runs at a time, polling every {self.poll_seconds:g} s;"
            f" {self._loads()}"
        )
        self._last_run = time.monotonic()  # idle from now, not from before the warm-up
        rest = self.ready_with is not None  # the other deployments, registered once idle
        kept: list[Any] = []  # each run thread's Prefect client (flows/warm_runs.py)
        with (
            get_client(sync_client=True) as client,
            ThreadPoolExecutor(
                self.limit, "intaj-run", initializer=keep_a_client, initargs=(kept,)
            ) as runs,
        ):
            while not self.stop.is_set() and not self._idle():
                try:
                    self._poll(client, runs, served)
                    if rest and self._quiet():
                        served.update(register())
                        rest = False
                        self.announce(f"serving all {len(served)} deployments")
                except Exception as e:  # the server restarting: try again at the next poll
                    log.warning("polling the Prefect server failed: %s", e)
                self.wake.wait(self.poll_seconds)  # set by halt() and by a command's wake-up
                self.wake.clear()
            if self._running:
                self.announce(f"waiting for {len(self._running)} runs in flight")
        close_clients(kept)
        self.announce(f"stopped after {self.finished} runs; {self._loads()}")

    def _quiet(self) -> bool:
        """No run in flight, and one has ended or none came for QUIET_SECONDS: the time to
        register what a command does not wait for (the Prefect UI's other deployments), so
        that its writes do not meet a command's run on a SQLite server (HTTP 503, then the
        client's 2 s back-off)."""
        busy, quiet = self._activity()
        return not busy and (self.finished > 0 or quiet > QUIET_SECONDS)

    def _activity(self) -> tuple[bool, float]:
        """Whether a run is in flight, and the seconds since the last one ended."""
        with self._lock:
            return bool(self._running), time.monotonic() - self._last_run

    def _warm_up(self) -> None:
        building = pending_build(self.settings)
        if building is not None:
            self.announce(f"building the embedding model's runtime file once ({building})")
        warm_up(self.settings)

    def halt(self) -> None:
        """Stop polling now (the runs in flight finish first)."""
        self.stop.set()
        self.wake.set()

    def _idle(self) -> bool:
        """No run in flight for ``idle_seconds`` (then the worker stops, saying so)."""
        busy, quiet = self._activity()
        if self.idle_seconds is None or busy or quiet < self.idle_seconds:
            return False
        self.announce(f"no flow run for {self.idle_seconds:g} s: stopping")
        return True

    def _poll(self, client: Any, runs: ThreadPoolExecutor, served: dict[UUID, Any]) -> None:
        from prefect.types._datetime import now

        with self._lock:
            free = self.limit - len(self._running)
        if free <= 0:
            return
        scheduled = client.get_scheduled_flow_runs_for_deployments(
            deployment_ids=list(served), scheduled_before=now("UTC")
        )
        scheduled.sort(
            key=lambda r: (r.next_scheduled_start_time is None, r.next_scheduled_start_time)
        )
        for flow_run in scheduled:
            if free <= 0 or self.stop.is_set():
                break
            if flow_run.id in self._running:
                continue
            claimed = _claim(client, flow_run)
            if claimed is None:
                continue
            with self._lock:
                self._running.add(flow_run.id)
            free -= 1
            runs.submit(self._execute, claimed, served[flow_run.deployment_id])

    def _execute(self, flow_run: Any, flow: Any) -> None:
        start = time.perf_counter()
        outcome = "crashed"
        flow_run_id, name = flow_run.id, flow_run.name
        try:
            with without_flow_heartbeat():  # our lease is the liveness signal (flows/startup)
                state, name = run_flow_here(flow, flow_run)
            outcome = state.type.value.lower()
        except BaseException as e:  # Abort (cancelled meanwhile) or a bug: the worker goes on
            log.warning("flow run %s (%s) ended with %r", name, flow.name, e)
        finally:
            with self._lock:
                self._running.discard(flow_run_id)
                self.finished += 1
                self._last_run = time.monotonic()
            self.wake.set()  # a free slot: poll now for a run that waits for one
        self.announce(
            f"flow run {name} ({flow.name}) {outcome} in {time.perf_counter() - start:.2f} s;"
            f" runs: {self.finished}, {self._loads()}"
        )

    @staticmethod
    def _loads() -> str:
        loaded = loads()
        return f"model loads in this process: {len(loaded)} ({', '.join(loaded) or 'none'})"


def _cancel_scheduled(served: dict[UUID, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled
    from prefect.types._datetime import now

    with get_client(sync_client=True) as client:
        left = client.get_scheduled_flow_runs_for_deployments(
            deployment_ids=list(served), scheduled_before=now("UTC")
        )
        for flow_run in left:
            message = "left by a flow service that ended; its command ran the flow itself"
            client.set_flow_run_state(flow_run.id, Cancelled(message=message), force=True)


def _claim(client: Any, scheduled: Any) -> Any:
    """Scheduled -> Pending, which the server grants once: the run as the engine takes it (the
    poll's copy with its new state: no read of it before it starts), or None if another worker
    has it."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.exceptions import Abort
    from prefect.states import Pending
    from prefect.utilities.engine import propose_state_sync

    try:
        state = propose_state_sync(client, Pending(), flow_run_id=scheduled.id)
    except Abort:
        return None
    except Exception as e:
        log.warning("could not claim flow run %s: %s", scheduled.id, e)
        return None
    if not state.is_pending():
        return None
    return FlowRun.model_validate({**scheduled.model_dump(), "state": state})
