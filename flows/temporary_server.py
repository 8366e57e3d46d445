"""Prefect's temporary API server as a child process of ours (flows/startup.py starts it first
thing, before Prefect is imported), and whether Prefect would start one of its own at all.

The server never outlives the command that started it: ``atexit`` stops it on a normal exit
(asked to stop, not waited for: its graceful stop took 0.25 s of a new home's first ingest;
a flow service started by the command waits for it, :func:`running_names`), the CLI's SIGTERM
handler (:func:`stop_all`) on a SIGTERM, and the server itself on anything else (SIGKILL, a
crash): its parent pid changes and it stops within a second.

Importing this module imports no Prefect.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from flows import prefect_home
from pipeline.run import worker as processes

# The command and environment of Prefect's SubprocessASGIServer (prefect 3.x,
# prefect/server/api/server.py): the same server, started without importing it here.
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


# The server's command: uvicorn, plus a thread that ends the server when the process that
# started it is gone (its parent pid changes: killed, even by SIGKILL, which runs no atexit).
# SIGTERM first (uvicorn's graceful stop: SQLite closed cleanly), then exit after 10 s.
_OUTLIVES_NOTHING = """
import os, runpy, signal, sys, threading, time
def _watch(parent=int(os.environ.pop("INTAJ_SERVER_PARENT"))):
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    os._exit(1)
threading.Thread(target=_watch, daemon=True).start()
sys.argv = ["uvicorn", *sys.argv[1:]]
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""
_running: list[TemporaryServer] = []


def stop_all() -> None:
    """Stop every temporary server this process started (a SIGTERM handler's clean-up)."""
    for server in list(_running):
        server.stop()


class TemporaryServer:
    """Prefect's temporary API server as a child process of ours, stopped when we exit."""

    def __init__(self, process: subprocess.Popen[bytes], port: int):
        self.process = process
        self.port = port
        self.api_url = f"http://127.0.0.1:{port}/api"

    @classmethod
    def launch(cls, *, home: str | None = None) -> TemporaryServer | None:
        """Start one and set ``PREFECT_API_URL`` to it, or None where Prefect must choose
        (see the module docstring). ``home``: a PREFECT_HOME for the server alone (this
        process's settings and ``PREFECT_API_URL`` are left as they are). Launched already
        for this process (:func:`flows.startup.launch_early`): that one."""
        if home is None and (early := launched_here()) is not None:
            return early
        if not prefect_would_start_its_own():
            return None
        package = importlib.util.find_spec("prefect")
        if package is None or not package.submodule_search_locations:
            return None
        port = _free_port()
        argv = [
            sys.executable, "-c", _OUTLIVES_NOTHING,
            "--app-dir", str(Path(next(iter(package.submodule_search_locations))).parent),
            "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on",
        ]  # fmt: skip
        env = {
            **os.environ, **_SERVER_ENV, **({"PREFECT_HOME": home} if home else {}),
            "INTAJ_SERVER_PARENT": str(os.getpid()),
        }  # fmt: skip
        if prefect_home.seed_database(env.get("PREFECT_HOME") or "~/.prefect"):
            env = {**prefect_home.ON_A_FRESH_COPY, **env}  # the environment's own choice wins
        process = subprocess.Popen(argv, env=env)
        server = cls(process, port)
        atexit.register(server.stop, wait=False)
        _running.append(server)
        if home is None:
            os.environ["PREFECT_API_URL"] = server.api_url
        return server

    def wait_ready(self) -> None:
        """Until the server accepts connections (uvicorn listens only once the app's startup,
        Prefect's database included, is done); raises RuntimeError if it dies or the startup
        timeout passes (``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``)."""
        limit = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "20"))
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Prefect's temporary server exited with code {self.process.returncode}"
                    " while starting; set PREFECT_API_URL to a running Prefect server"
                )
            with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"Prefect's temporary server did not answer within {limit:g} s"
            " (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); set PREFECT_API_URL to a"
            " running Prefect server"
        )

    def stop(self, *, wait: bool = True) -> None:
        """Stop the server; ``wait``: until it has (at most 5 s, then it is killed)."""
        if self in _running:
            _running.remove(self)
        if self.process.poll() is None:
            self.process.terminate()
            if not wait:
                return
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def running_names() -> list[str]:
    """The temporary servers this process started that still run, as
    :func:`pipeline.run.worker.name_of` names processes."""
    return [processes.name_of(s.process.pid) for s in _running if s.process.poll() is None]


def launched_here() -> TemporaryServer | None:
    """The running temporary server this process launched for itself (its URL in
    ``PREFECT_API_URL``), if any."""
    url = os.environ.get("PREFECT_API_URL")
    return next((s for s in _running if s.api_url == url and s.process.poll() is None), None)


def prefect_would_start_its_own() -> bool:
    """Whether Prefect, once imported here, would start a temporary server: not imported yet
    (else its settings are read already), no API URL in the environment, a ``.env``, a
    ``prefect.toml``/``pyproject.toml`` here or the active profile, and ephemeral mode on."""
    if "prefect" in sys.modules or os.environ.get("PREFECT_API_URL"):
        return False
    allowed = os.environ.get(
        "PREFECT_SERVER_EPHEMERAL_ENABLED",
        os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true"),
    )
    if allowed.strip().lower() in ("0", "false", "no", "off"):
        return False
    return not _configured_elsewhere()


def _configured_elsewhere() -> bool:
    """Whether another place Prefect 3 reads settings from could name a server."""
    here = Path.cwd()
    found: list[bool] = []
    for name in (".env", "prefect.toml", "pyproject.toml"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = (here / name).read_text(encoding="utf-8")
            found.append("PREFECT_API_URL" in text or ("api" in text and "prefect" in name))
            if name == "pyproject.toml":
                found.append("[tool.prefect" in text)
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    with contextlib.suppress(OSError, tomllib.TOMLDecodeError, AttributeError):
        data = tomllib.loads(profiles.read_text(encoding="utf-8"))
        active = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
        found.append(bool(data.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")))
    return any(found)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
