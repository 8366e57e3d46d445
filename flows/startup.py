"""What an ingestion needs before its first source can start, started side by side.

Measured on the 2-core development machine (quick corpus), the fixed cost of ``intaj ingest``
was Prefect's temporary server and the embedding model. Prefect starts that server by
importing its server module here (5 s on that machine: FastAPI, the ORM models), then a child
process that imports it again, opens its SQLite database and serves.

``warm_up`` does it in a better order. In a process that has not imported Prefect and has no
Prefect server configured (the CLI's embedded default), it launches the same server command
Prefect would, first thing, and points this process at it (``PREFECT_API_URL``) before Prefect
is imported; so the child starts on one core while this process loads the model and imports
only Prefect's client on the other, and the server module is never imported here. Anywhere
else (a configured server, tests with their own, Prefect already imported), Prefect's own
temporary server is started from a thread while the model loads.

Prefect's temporary server also migrates a new SQLite database before it answers (about 6 s of
its 9.4 s start on the 2-core development machine, an AMD EPYC Zen 4). That work is the same for
every new PREFECT_HOME, so ``intaj prepare`` and ``scripts/setup`` do it once per machine and
Prefect version (:func:`build_database_template`, beside the model's runtime files in
``INTAJ_MODEL_CACHE``), and a temporary server starting on a home without a database starts
from a copy of it (``flows/prefect_home.py``): a new home's first ingest does not migrate, and
that first start skips the migration check and the registration of Prefect's block types too
(``prefect_home.ON_A_FRESH_COPY``).

Importing this module imports no Prefect.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from core.settings import Settings, default_home
from flows import prefect_home
from flows.temporary_server import TemporaryServer, prefect_would_start_its_own

log = logging.getLogger(__name__)


def configure_environment() -> None:
    """The Prefect environment of a CLI process, set before Prefect is imported: Prefect's INFO
    chatter would drown the CLI's own output (``--verbose`` brings it back), no analytics, time
    for the temporary server's first start (it migrates its SQLite database), and in ephemeral
    mode Prefect's state beside ours, one SQLite file per INTAJ_HOME."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "PREFECT_API_URL" not in os.environ and "PREFECT_HOME" not in os.environ:
        home = os.environ.get("INTAJ_HOME") or str(default_home())
        os.environ["PREFECT_HOME"] = os.path.join(home, "prefect")


def launch_early(settings: Settings) -> None:
    """Launch Prefect's temporary server now, before the home's database starts, where an
    ingest will need both: the embedded database is not running (a new or stopped home: it is
    copied from its template and started first, most of it waiting for its own processes) and
    no flow service runs or starts (the command will run the flow itself). Called before the
    command imports the pipeline: the server's start (3.2 s of CPU, the longest thing a new
    home's first ingest waits for) then overlaps the database's and the command's imports;
    :func:`warm_up` takes it over, and it stops when the command exits."""
    from db.embedded_data import embedded_running
    from flows import service

    if settings.database_url or embedded_running(settings.pgdata):
        return
    if settings.flow_service and (service.running(settings) or service.starting(settings)):
        return
    TemporaryServer.launch()  # None where Prefect has a server configured


def warm_up(load: Callable[[], object]) -> bool:
    """Have Prefect's server answering and run ``load`` (the embedding model) meanwhile.
    Returns whether that server is a temporary one started here (see :func:`flow_settings`).

    Nothing here fails an ingestion because of the model: its error is logged, and the flow
    meets it again for the first source, so messages and per-source failures stay the same.
    A temporary server that does not come up raises :class:`RuntimeError`, as Prefect's own
    does."""
    server = TemporaryServer.launch()
    if server is None:
        return _warm_up_with_prefects_server(load)
    _load(load)
    _import_flow_engines()  # Prefect's client and engines, while the server finishes starting
    server.wait_ready()
    return True


def _import_flow_engines() -> None:
    """What running the ingestion flow imports first, imported now (its error, if any, comes
    back when the flow runs)."""
    try:
        for module in ("prefect", "prefect.flow_engine", "prefect.task_engine", "flows.ingest"):
            importlib.import_module(module)
    except Exception as e:
        log.debug("warm-up: importing the flow engines failed (the flow reports it): %s", e)


@contextlib.contextmanager
def flow_settings(temporary_server: bool) -> Iterator[None]:
    """Prefect settings for flow runs against the server :func:`warm_up` readied: with a
    temporary server, no flow-run heartbeat (:func:`without_flow_heartbeat`)."""
    if not temporary_server:
        yield
        return
    with without_flow_heartbeat():
        yield


_QUIET: dict[int, tuple[object, object]] = {}  # id(settings) -> (settings, without heartbeat)


@contextlib.contextmanager
def without_flow_heartbeat() -> Iterator[None]:
    """Flow runs started inside send no flow-run heartbeat (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
    unset). Prefect's heartbeat tells its server that a run is alive; the heartbeat's thread
    sleeps in 1 s steps and each flow run's end waits for it: 0.9 s of a 1.1 s run of a
    one-chunk file (2-core AMD EPYC Zen 4). Our runs have their own liveness signal (the
    ingestion run's lease, renewed every ``INTAJ_HEARTBEAT_SECONDS``), and the sweeper marks
    a run whose worker is lost Crashed in Prefect too (flows/sweep.py). The settings copy is
    made once per base settings (0.13 s each time otherwise)."""
    from prefect.context import SettingsContext
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    current = SettingsContext.get()
    if current is None:  # no settings context: Prefect's own default applies
        yield
        return
    cached = _QUIET.get(id(current.settings))
    if cached is None:
        quiet = current.settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        cached = _QUIET[id(current.settings)] = (current.settings, quiet)
    with SettingsContext(profile=current.profile, settings=cached[1]):  # type: ignore[arg-type]
        yield


def prepare_prefect() -> str:
    """Create (or migrate) the database of Prefect's temporary server now, as a fresh machine's
    first ingest would: start the server once and stop it. Returns what was done, in words.
    With a server configured (``PREFECT_API_URL``, a profile) there is nothing to prepare."""
    template = build_database_template()  # first: the home's database is then a copy of it
    server = TemporaryServer.launch()
    if server is None:
        return "a configured Prefect server is used: nothing to prepare here"
    try:
        server.wait_ready()
    finally:
        server.stop()
        atexit.unregister(server.stop)
        os.environ.pop("PREFECT_API_URL", None)
    home = os.environ.get("PREFECT_HOME", "~/.prefect")
    kept = f" (new homes start from {template})" if template else ""
    return f"the temporary server's database under {home} is ready{kept}"


def build_database_template() -> Path | None:
    """Build ``prefect_home.database_template()`` once: a temporary server started on a scratch
    PREFECT_HOME migrates a new database, which is then copied (SQLite's backup, so the copy is
    whole) and the scratch home removed. Returns the template, or None where there is none
    (no Prefect, or a server of its own is configured)."""
    template = prefect_home.database_template()
    if template is None or not prefect_would_start_its_own():
        return None
    if template.exists():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="intaj-prefect-") as scratch:
        server = TemporaryServer.launch(home=scratch)
        if server is None:
            return None
        try:
            server.wait_ready()
        finally:
            server.stop()
            atexit.unregister(server.stop)
        partial = template.with_suffix(f".{os.getpid()}.tmp")
        prefect_home.copy_database(Path(scratch) / "prefect.db", partial)
        os.replace(partial, template)
    return template


def _load(load: Callable[[], object]) -> None:
    try:
        load()
    except Exception as e:
        log.debug("warm-up: loading failed (the flow reports it): %s", e)


def _warm_up_with_prefects_server(load: Callable[[], object]) -> bool:
    imported = threading.Event()
    started: list[bool] = []
    thread = threading.Thread(
        target=_start_server, args=(imported, started), name="intaj-prefect-start", daemon=True
    )
    thread.start()
    # The server's child process can only start once its module is imported here; holding
    # back until then keeps the two imports from sharing this process's one running thread.
    imported.wait()
    _load(load)
    _import_flow_engines()
    # Prefect must not use the server before it answers: its own start() would see it
    # marked running and go ahead.
    thread.join()
    return bool(started)


def _start_server(imported: threading.Event, started: list[bool]) -> None:
    try:
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            return
        from prefect.server.api.server import SubprocessASGIServer

        imported.set()
        SubprocessASGIServer().start()
        started.append(True)
    except Exception as e:
        log.debug("warm-up: Prefect's server did not start (the flow tries again): %s", e)
    finally:
        imported.set()


def main() -> None:
    """``python -m flows.startup`` (scripts/setup): the database template, once per machine."""
    configure_environment()
    start = time.perf_counter()
    template = build_database_template()
    took = time.perf_counter() - start
    print(f"==> Prefect: {template or 'a configured server: nothing to build'} ({took:.1f} s)")


if __name__ == "__main__":
    main()
