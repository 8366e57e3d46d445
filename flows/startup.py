"""What an ingestion needs before its first source can start, started side by side.

Measured on the 2-core development machine (quick corpus), the fixed cost of ``intaj ingest``
was Prefect's temporary server (its module imported here, then a child process that imports
it again, opens its SQLite database and serves) and the embedding model (imports, ONNX
session). ``warm_up`` starts the server from a thread while the calling thread loads the
model, so the model loads while the server's own process starts on the other core.

Importing this module imports no Prefect: the thread does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def warm_up(load: Callable[[], object]) -> None:
    """Start Prefect's temporary server (only when no ``PREFECT_API_URL`` is set) on a
    thread, run ``load`` here meanwhile, and wait for both.

    Nothing here fails an ingestion: an error is logged, and the flow meets it again where it
    always did (Prefect starting its server on the first call, the model loading for the
    first source), so messages and per-source failures stay the same."""
    imported = threading.Event()
    thread = threading.Thread(
        target=_start_server, args=(imported,), name="intaj-prefect-start", daemon=True
    )
    thread.start()
    # The server's child process can only start once its module is imported here; holding
    # back until then keeps the two imports from sharing this process's one running thread.
    imported.wait()
    try:
        load()
    except Exception as e:
        log.debug("warm-up: loading failed (the flow reports it): %s", e)
    # Prefect must not use the server before it answers: its own start() would see it
    # marked running and go ahead.
    thread.join()


def _start_server(imported: threading.Event) -> None:
    try:
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            return
        from prefect.server.api.server import SubprocessASGIServer

        imported.set()
        SubprocessASGIServer().start()
    except Exception as e:
        log.debug("warm-up: Prefect's server did not start (the flow tries again): %s", e)
    finally:
        imported.set()
