"""A running flow service (flows/service.py) as a command sees it: its process and Prefect API,
and the two calls a command makes there, creating a flow run and waiting for its end.

The API is the one the home's own service wrote into its state file (Prefect's server on
127.0.0.1): never a URL from a user, so these calls do not go through the SSRF guard.
Importing this module imports no Prefect."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.run import worker as processes

if TYPE_CHECKING:
    import httpx

FINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
LOOK_MIN, LOOK_MAX = 0.05, 0.5  # seconds between looks at a flow run's state


@dataclass(frozen=True)
class Service:
    """A running flow service, as its state file describes it."""

    pid: int
    process: str  # host:pid:start (pipeline/run/worker.py): a recycled pid is not it
    api_url: str
    deployments: dict[str, str]
    settings: str
    code: str

    def create_run(self, flow: str, parameters: dict[str, Any], tags: list[str]) -> str:
        """A flow run of ``flow``'s deployment; the worker is woken to take it at once."""
        response = _retried(
            "POST",
            f"{self.api_url}/deployments/{self.deployments[flow]}/create_flow_run",
            json={"parameters": parameters, "tags": tags},
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGUSR1)
        return str(response.json()["id"])

    def wait(
        self, flow_run_id: str, *, every: Callable[[], bool] = lambda: False
    ) -> dict[str, Any]:
        """The flow run's final state (``type``, ``message``), calling ``every`` between
        looks. A service that dies meanwhile ends the wait with state ``CRASHED``.

        Looks are 0.05 s apart at first, then a tenth of the time waited so far, at most
        ``LOOK_MAX`` (each look is a request the server answers with the CPU the run needs: 20
        a second cost a long ingest about a fifth of its speed on 2 cores); ``every``
        returning True (a source ended, so the end may be near) brings them back to 0.05 s."""
        import httpx  # here: the module is imported before a new home's first launch

        near = time.monotonic()  # the start, or the last source that ended
        with httpx.Client(timeout=10) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    response = client.get(f"{self.api_url}/flow_runs/{flow_run_id}")
                    if response.status_code == 200:
                        state = response.json().get("state") or {}
                        if state.get("type") in FINAL:
                            return dict(state)
                if processes.is_gone(self.process):
                    return {"type": "CRASHED", "message": "the flow service ended during the run"}
                if every():
                    near = time.monotonic()
                waited = time.monotonic() - near
                time.sleep(min(max(waited / 10, LOOK_MIN), LOOK_MAX))


def _retried(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; a busy server's 503 (its SQLite database locked by a concurrent write), a
    502/429 or a dropped connection is retried after 0.05, 0.1, 0.2 ... s, for up to 20 s."""
    import httpx

    delay, deadline = 0.05, time.monotonic() + 20
    while True:
        try:
            response = httpx.request(method, url, timeout=30, **kwargs)
            if response.status_code not in (429, 502, 503) or time.monotonic() > deadline:
                response.raise_for_status()
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
