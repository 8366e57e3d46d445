"""How the warm worker (flows/worker.py) runs one flow run, paying per run only for the run.

Prefect's flow engine, given a flow run, opens a new API client per run (a new TLS context:
~18 ms of CPU each, with the certificate bundle loaded again, and new connections), and for a
deployment's run starts a *suspension observer*: a thread with its own event loop, one more
client, a websocket subscription to the server's event stream and a read of the run before the
flow may start, so that a run suspended from outside pauses at its next task. Measured in the
warm worker under a 150-file backlog (py-spy): creating TLS contexts was 42% of its busy
samples, the observer 15%.

Here each run thread keeps one client for its life (Prefect's ``SyncClientContext``, which the
engine reuses: ``get_or_create``), and the engine runs without the observer: these flows never
suspend themselves (an ingestion's sources finish or fail; nothing waits for input). As a run
cancelled from the UI, a run suspended from the UI is not stopped mid-flight by the warm worker:
its sources finish (each swap is atomic); ``intaj serve-flows --process-per-run`` runs flows
with Prefect's own engine, observer included. Async or generator flows go to Prefect's engine.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)
_lock = threading.Lock()


def keep_a_client(kept: list[Any]) -> None:
    """Executor initializer: this thread's runs share one Prefect client (added to ``kept``,
    for :func:`close_clients`)."""
    from prefect.context import SyncClientContext

    try:
        context = SyncClientContext()
        context.__enter__()  # for the thread's life: the engine finds it (get_or_create)
    except Exception as e:  # the server away: this thread's runs open their own, as before
        log.warning("no client kept for this run thread (%s); each run opens its own", e)
        return
    with _lock:
        kept.append(context)


def close_clients(kept: list[Any]) -> None:
    """Close the clients the run threads kept (once their threads have ended)."""
    with _lock:
        contexts, kept[:] = list(kept), []
    for context in contexts:
        context.client.__exit__(None, None, None)


def run_flow_here(flow: Any, flow_run: Any) -> tuple[Any, str]:
    """``flow``'s run ``flow_run`` on this thread, as ``prefect.flow_engine.run_flow`` runs a
    sync flow (its parameters from the run, the flow's defaults filled in), without the
    suspension observer (module doc); its final state and the run's name (our flows name
    their runs: flows/labels.py renames the engine's own copy of the run, so no read after)."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow
    from prefect.utilities.callables import get_call_parameters, parameters_to_args_kwargs

    if flow.isasync or flow.isgenerator:  # Prefect's engine for those (none of ours)
        state = run_flow(flow, flow_run=flow_run, return_type="state")
        with get_client(sync_client=True) as client:
            return state, client.read_flow_run(flow_run.id).name

    args, kwargs = parameters_to_args_kwargs(flow.fn, flow_run.parameters)
    parameters = get_call_parameters(flow.fn, args, kwargs)
    engine = _engine_class()(flow=flow, flow_run=flow_run, parameters=parameters)
    with engine.start():
        while engine.is_running():
            with engine.run_context():
                engine.call_flow_fn()
    return engine.state, engine.flow_run.name


@functools.cache
def _engine_class() -> type:
    """Prefect's sync flow-run engine, its suspension requests registered (so a pause from
    within works as before) but no observer started for them."""
    from prefect._flow_run_suspension import register_flow_run_suspension_request
    from prefect.flow_engine import FlowRunEngine

    class UnobservedFlowRunEngine(FlowRunEngine):  # type: ignore[type-arg,misc]
        @contextmanager
        def setup_flow_run_suspension_request(self) -> Iterator[Any]:
            if self.flow_run is None:
                raise ValueError("Flow run not set")
            request = self._get_flow_run_suspension_request()
            with register_flow_run_suspension_request(self.flow_run.id, request):
                request.raise_if_requested()
                yield request

    return UnobservedFlowRunEngine
