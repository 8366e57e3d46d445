"""What a warm worker's run costs (flows/warm_runs.py, flows/run_wakeups.py): a run of an
upload starts when the upload trigger announces it, not at the worker's next poll; each run
thread keeps one Prefect client; and no suspension observer (a thread, an event loop, a
client and a websocket per run) is started for these flows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow
from prefect.settings import PREFECT_API_URL, temporary_settings
from psycopg_pool import ConnectionPool

from core.settings import Settings
from flows.trigger import Dispatcher
from flows.warm_runs import close_clients, keep_a_client, run_flow_here
from tests.fix_orchestration import (
    child_env,
    intaj_cmd,
    prefect_server,
    process,
    status_of,
    upload,
    wait_for,
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of this module's own: no other warm worker polls it."""
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_server(home) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


CLIENTS: list[Any] = []  # the client each probe run was handed (kept alive, so never reused)


@flow
def probe() -> list[str]:
    """What a flow run sees: the threads alive; and the client Prefect hands it (CLIENTS)."""
    with get_client(sync_client=True) as client:
        CLIENTS.append(client)
        return [t.name for t in threading.enumerate()]


def test_a_dispatched_run_starts_when_announced_not_at_the_next_poll(
    api: str, tmp_path: Path, pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    """The worker polls every ten minutes here, after its first poll: the upload is ready
    within the test's minute only because the trigger's NOTIFY woke it."""
    log = tmp_path / "serve.log"
    serve = intaj_cmd("serve-flows", "--limit", "1", "--poll-seconds", "600")
    with process(serve, child_env(PREFECT_API_URL=api), log) as proc:

        def serving() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            return "polling every 600 s" in log.read_text()

        wait_for(serving, timeout=120, every=0.5)
        bot = make_chatbot()
        source = upload(pool, settings, bot.id, "hours.txt", b"The shop opens at nine.\n")
        dispatcher = Dispatcher(pool, settings, "deployment")
        try:
            assert dispatcher.trigger(source) is not None
        finally:
            dispatcher.close()
        wait_for(lambda: status_of(pool, source)[0] == "ready", timeout=60, every=0.25)
    # the name the flow gave its run (flows/labels.py), known without reading the run again
    assert "flow run ingest hours.txt (ingest-data-source) completed in" in log.read_text()


def test_warm_runs_share_their_threads_client_and_start_no_suspension_observer(
    api: str,
) -> None:
    deployment: Any = probe.to_deployment(name="probe")
    deployment_id = deployment.apply()
    with get_client(sync_client=True) as client:
        runs = [client.create_flow_run_from_deployment(deployment_id) for _ in range(3)]
        runs = [client.read_flow_run(r.id) for r in runs]

    entered: list[Any] = []
    kept: list[Any] = []

    def run_thread() -> None:  # as in the worker, whose environment names the server
        entered.append(temporary_settings(updates={PREFECT_API_URL: api}))
        entered[-1].__enter__()  # for the thread's life (kept: a collected one would exit)
        keep_a_client(kept)

    try:
        with ThreadPoolExecutor(1, initializer=run_thread) as thread:
            ran = [thread.submit(run_flow_here, probe, r).result() for r in runs[:2]]
    finally:
        close_clients(kept)
    warm = [state for state, _ in ran]
    assert [name for _, name in ran] == [r.name for r in runs[:2]]  # probe keeps its names
    assert all(state.is_completed() for state in warm)
    assert CLIENTS[0] is CLIENTS[1]  # one client for the thread's runs
    assert not [t for state in warm for t in state.result() if "observer" in t]
    # Prefect's own engine, for comparison: a deployment's run gets the observer's thread
    # (the day it no longer does, flows/warm_runs.py has nothing left to skip)
    plain: Any = run_flow(probe, flow_run=runs[2], return_type="state")
    assert plain.is_completed()
    assert [t for t in plain.result() if "observer" in t]
    assert CLIENTS[2] is not CLIENTS[0]
