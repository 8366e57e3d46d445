"""The home's flow service (issue 29; docs/operations.md, "The flow service"): Prefect's server and
a warm worker (flows/worker.py) kept running per INTAJ_HOME between commands, as the embedded
PostgreSQL is, so that ``intaj ingest`` pays neither the server's start nor the import of
Prefect's engines, torch and the model: about 5 s of the 6.2 s a one-file ingest took in a
running home on the 2-core development machine (bench/fixed_costs.py).

- ``intaj ingest`` (``INTAJ_FLOW_SERVICE``, on by default; not where ``PREFECT_API_URL`` or a
  Prefect profile names a server of its own) reads ``INTAJ_HOME/run/flows.json``: the
  service's process, its API URL, its ``ingest-chatbot`` deployment and what it runs with (a
  fingerprint of the settings and one of the code). None alive: the command runs the flow
  itself, then starts one (a process of its own session, so it outlives the command; it
  waits for the command to exit before it loads) for the next command; one starting: the
  command waits for it. One running older code is stopped (and replaced the same way); one
  started with other settings is left alone and the command runs the flow itself.
- The command creates a run of the ``ingest-chatbot`` deployment over Prefect's REST API
  (tagged ``trigger:cli``), wakes the worker (SIGUSR1: it polls at once), waits for the run's
  final state and reads each source's result from its ingestion run (``db/runs.py``). It
  imports no Prefect. Prefect stays the orchestrator: the run, its task runs, logs and
  artifact are on the service's server, in the home's Prefect database.
- The service exits after ``INTAJ_FLOW_SERVICE_IDLE_SECONDS`` (900) without a run, on SIGTERM
  (runs in flight finish first) and with ``intaj db stop``. Its server watches the service's
  pid (flows/temporary_server.py), so it never outlives it; a killed service's runs are closed
  by the next command (pipeline/run/orphans.py) and the next ingest starts a new service.
- Two commands at once share one service (a lock around the start); its worker runs
  ``SERVICE_RUNS`` (2) flow runs side by side.

Importing this module imports no Prefect.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.locks import file_lock
from core.settings import Settings, get_settings
from flows import temporary_server
from flows.service_runs import Service
from pipeline.run import worker as processes

log = logging.getLogger(__name__)

START_TIMEOUT = 90.0  # seconds a command waits for a new service (its model load included)
STOP_TIMEOUT = 30.0
SERVICE_RUNS = 2  # flow runs at once in the service
_CODE = ("core", "db", "flows", "pipeline", "retrieval")  # what the service runs


def folder(settings: Settings) -> Path:
    return settings.home / "run"


def kick(settings: Settings) -> None:
    """Start the home's service now, without waiting for it: ``intaj ingest`` calls this when
    it ran its flow itself because none was running (:func:`wanted` true before its flow),
    so that the next ingest finds one."""
    if running(settings) is not None:
        return
    run = folder(settings)
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    with file_lock(run / "flows.lock"):
        if running(settings) is None and _starting(settings) is None:
            _spawn(settings)


def reach(settings: Settings) -> Service | None:
    """The home's service for these settings, if one runs (or is starting: then once it is
    ready); None where the command runs the flow itself: none runs (the command then starts
    one with :func:`kick` for the next: waiting for a new service, 5-6 s on the 2-core
    development machine, is slower than running the flow here), the service is off, Prefect
    has a server of its own here, or a service with other settings runs. A service running
    older code is stopped."""
    if not wanted(settings):
        return None
    digests = fingerprint(settings)
    found = running(settings)
    if found is not None and found.code == digests[1]:
        return found if found.settings == digests[0] else None
    run = folder(settings)
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    with file_lock(run / "flows.lock"):
        found = running(settings)  # started meanwhile by another command
        if found is not None and found.code != digests[1]:
            stop(settings)  # older code: replaced by the kick after this command's flow
            found = None
        starting = _starting(settings)
        if found is None and starting is not None:
            found = _started(settings, starting)
    if found is None or found.settings != digests[0]:
        return None
    return found


def wanted(settings: Settings) -> bool:
    """Whether ingests here use the service: it is on and Prefect has no server configured
    (its URL, if set, is that of the temporary server this process launched itself)."""
    from flows.temporary_server import launched_here, prefect_would_start_its_own

    return settings.flow_service and (prefect_would_start_its_own() or launched_here() is not None)


def running(settings: Settings) -> Service | None:
    """The service described by the home's state file, if its process lives."""
    try:
        state = json.loads((folder(settings) / "flows.json").read_text())
        found = Service(**state)
    except (OSError, ValueError, TypeError):
        return None
    return None if processes.is_gone(found.process) else found


def stop(settings: Settings) -> bool:
    """Stop the home's service if one runs or is starting (runs in flight finish first).
    Returns whether one did."""
    found = running(settings)
    name = found.process if found is not None else _starting(settings)
    if name is None:
        return False
    pid = processes.pid_of(name)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while not processes.is_gone(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not processes.is_gone(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for left in ("flows.json", "flows.starting"):
        (folder(settings) / left).unlink(missing_ok=True)
    return True


def fingerprint(settings: Settings) -> tuple[str, str]:
    """What a service must share with a command to run its flows: the settings (with the
    Prefect environment) and the code, each as a digest."""
    prefect_env = sorted(
        (k, v)
        for k, v in os.environ.items()
        if k.startswith("PREFECT_") and k != "PREFECT_API_URL" and "LOGGING" not in k
    )
    given = json.dumps([settings.model_dump(mode="json"), prefect_env], sort_keys=True)
    root = Path(__file__).resolve().parent.parent
    stamps = sorted(
        (str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size)
        for package in _CODE
        for p in (root / package).rglob("*")
        if p.suffix in (".py", ".sql")
    )
    return _digest(given), _digest(json.dumps(stamps))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _spawn(settings: Settings) -> str:
    """A new service process (its own session: it outlives the command); returns its name
    (``host:pid:start``), also written to ``flows.starting`` until the service is ready."""
    run = folder(settings)
    (run / "flows.json").unlink(missing_ok=True)
    with (run / "flows.log").open("ab") as out:
        process = subprocess.Popen(
            # -c, not -m: each parse's child re-runs a main module run by name (0.2 s a parse)
            [sys.executable, "-c", "from flows.service import main; main()"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            # not the URL of a temporary server this command started for its own flow
            env={
                **_environment(), "INTAJ_HOME": str(settings.home),
                "INTAJ_SERVICE_AFTER": ",".join(
                    [processes.this_process(), *temporary_server.running_names()]
                ),
            },
        )  # fmt: skip
    name = processes.name_of(process.pid)
    (run / "flows.starting").write_text(name)
    return name


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}


def starting(settings: Settings) -> bool:
    """Whether a service process of the home is starting."""
    return _starting(settings) is not None


def _starting(settings: Settings) -> str | None:
    """The service process that is starting, if one is."""
    try:
        name = (folder(settings) / "flows.starting").read_text()
    except OSError:
        return None
    return None if processes.is_gone(name) else name


def _started(settings: Settings, name: str) -> Service | None:
    """Wait for the starting service ``name`` to be ready; None if it ends first or takes
    longer than START_TIMEOUT (the command then runs the flow itself)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and not processes.is_gone(name):
        found = running(settings)
        if found is not None and found.process == name:
            return found
        time.sleep(0.05)
    log.warning(
        "the flow service did not start (see %s): running the flow here",
        folder(settings) / "flows.log",
    )
    return None


def serve(settings: Settings) -> None:
    """The service process: Prefect's temporary server (a child that ends with this process)
    and the warm worker, until idle, SIGTERM or SIGINT; the state file is written once the
    model is loaded and the ``ingest-chatbot`` deployment exists (the other deployments, for
    the Prefect UI, follow once the worker is idle), and removed on the way out."""
    from flows.startup import configure_environment
    from flows.temporary_server import TemporaryServer

    configure_environment()
    server = TemporaryServer.launch()  # first: it starts while the worker imports and loads
    if server is None:
        raise SystemExit("a Prefect server is configured here: the flow service is not needed")
    from flows.worker import WarmWorker, warm_up

    state = folder(settings) / "flows.json"
    own = settings.model_copy(update={"worker_metrics_port": 0})
    worker = WarmWorker(
        own,
        limit=SERVICE_RUNS,
        poll_seconds=1.0,
        idle_seconds=settings.flow_service_idle_seconds,
        cancel_earlier=True,
        ready_with=("ingest-chatbot",),
        wake_on_announced=False,  # commands wake it (SIGUSR1)
        announce=lambda line: print(line, flush=True),
    )

    def ready(deployments: dict[str, Any]) -> None:
        settings_digest, code = fingerprint(settings)
        described = {
            "pid": os.getpid(), "process": processes.this_process(), "api_url": server.api_url,
            "deployments": {k: str(v) for k, v in deployments.items()},
            "settings": settings_digest, "code": code,
        }  # fmt: skip
        partial = state.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(described))
        os.replace(partial, state)
        (state.parent / "flows.starting").unlink(missing_ok=True)

    worker.ready = ready
    signal.signal(signal.SIGTERM, lambda signum, frame: worker.halt())
    signal.signal(signal.SIGINT, lambda signum, frame: worker.halt())
    signal.signal(signal.SIGUSR1, lambda signum, frame: worker.wake.set())
    try:
        warm_up(own)  # the model and Prefect's engines while the server starts
        server.wait_ready()
        worker.run()
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()
        server.stop()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    _after_the_command()
    serve(get_settings())


def _after_the_command(longest: float = 30.0) -> None:
    """Start once the command that started this service and its temporary Prefect server have
    ended (``INTAJ_SERVICE_AFTER``, their names): the command ran its flow itself, and its exit
    should not share the CPU with this start, nor the server's stop this server's database. A
    command that comes meanwhile finds the service starting and waits for it."""
    after = [name for name in os.environ.pop("INTAJ_SERVICE_AFTER", "").split(",") if name]
    deadline = time.monotonic() + longest
    while any(not processes.is_gone(name) for name in after) and time.monotonic() < deadline:
        time.sleep(0.02)


if __name__ == "__main__":
    main()
