"""The home's flow service (flows/service.py) as users meet it: ``intaj ingest`` in processes of
their own, no Prefect server configured. The first ingest runs its flow itself and starts the
service (Prefect's server and a warm worker) as it ends; later ones, and concurrent ones, run
in that service; ``intaj db stop``, an idle timeout or a kill end it and nothing of it stays
behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db.connection import database_url
from tests.fix_orchestration import prefect_servers, wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "intaj" / "examples"
PAGE = EXAMPLES / "northwind-about.html"

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")


@pytest.fixture(autouse=True)
def _no_service_left(tmp_path: Path) -> Iterator[None]:
    """A test that fails half-way still stops the service it started (and its server)."""
    yield
    run = tmp_path / "home" / "run"
    pids = []
    with contextlib.suppress(OSError, ValueError):
        pids.append(int(json.loads((run / "flows.json").read_text())["pid"]))
    with contextlib.suppress(OSError, ValueError):
        pids.append(int((run / "flows.starting").read_text().split(":")[-2]))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # its server follows it within a second


def _env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        DATABASE_URL=database_url(settings),
        INTAJ_HOME=str(tmp_path / "home"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        INTAJ_FLOW_SERVICE="true",
        HF_HUB_OFFLINE="1",
        **extra,
    )
    return env


def _intaj(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "intaj.cli", *args], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _ingested(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    result: dict[str, Any] = json.loads(out[out.index("{") :])
    assert [s["status"] for s in result["sources"]] == ["ready"], result
    return result


def _ingest(env: dict[str, str], path: Path, chatbot: str) -> dict[str, Any]:
    return _ingested(_intaj(env, "ingest", str(path), "--chatbot", chatbot, "--json"))


def _state(tmp_path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((tmp_path / "home" / "run" / "flows.json").read_text())
    return found


def _service_up(tmp_path: Path) -> dict[str, Any]:
    """The service an ingest started as it ended, once it is ready."""
    wait_for(lambda: (tmp_path / "home" / "run" / "flows.json").exists(), timeout=90)
    return _state(tmp_path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def _served_runs(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The CLI's runs of the service's ``ingest-chatbot`` deployment. (A command that ran the
    flow itself recorded its run in the same Prefect database, without a deployment.)"""
    deployment = state["deployments"]["ingest-chatbot"]
    response = httpx.post(
        f"{state['api_url']}/flow_runs/filter",
        json={"flow_runs": {"tags": {"all_": ["trigger:cli"]}}},
    )
    response.raise_for_status()
    return [r for r in response.json() if r["deployment_id"] == deployment]


UI_FLOWS = {"ingest-chatbot", "ingest-data-source", "sync-faqs", "reembed-chatbot", "retry-failed"}


def _deployments(state: dict[str, Any]) -> set[str]:
    response = httpx.post(f"{state['api_url']}/deployments/filter", json={})
    response.raise_for_status()
    return {d["name"] for d in response.json()}


def _vectors(pool: ConnectionPool, chatbot_id: str) -> list[tuple[str, np.ndarray]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT content, embedding FROM chunks WHERE chatbot_id = %s ORDER BY content",
            (chatbot_id,),
        ).fetchall()
    return [(content, np.asarray(vector)) for content, vector in rows]


def test_ingests_run_in_one_shared_service_until_db_stop(
    settings: Settings, pool: ConnectionPool, tmp_path: Path
) -> None:
    env = _env(settings, tmp_path)
    name = f"svc-{tmp_path.name}"
    # A new home: the command runs its flow itself (faster than waiting for a new service)
    # and starts the service as it ends.
    here = _ingest(env, PAGE, f"{name}-here")
    state = _service_up(tmp_path)
    assert _alive(state["pid"])
    assert prefect_servers(tmp_path / "prefect")  # the service's server, still up
    assert _served_runs(state) == []

    # The next ingest runs as a run of the service's deployment, tagged as the CLI's.
    first = _ingest(env, PAGE, f"{name}-a")
    (run,) = _served_runs(state)
    assert run["state"]["type"] == "COMPLETED"
    # Ready with ingest-chatbot's deployment alone; the Prefect UI's others follow when idle.
    wait_for(lambda: _deployments(state) == UI_FLOWS, timeout=30)

    # The same vectors as the flow run in the command's own process.
    assert first["sources"][0]["embedded"] > 0 and here["sources"][0]["embedded"] > 0
    served, own = _vectors(pool, first["chatbot"]), _vectors(pool, here["chatbot"])
    assert [c for c, _ in served] == [c for c, _ in own] and served
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(served, own, strict=True))

    # Two commands at once: the same service runs both.
    both = [
        _intaj(env, "ingest", str(EXAMPLES / f), "--chatbot", f"{name}-{i}", "--json")
        for i, f in enumerate(("northwind-about.html", "northwind-handbook.pdf"))
    ]
    for proc in both:
        _ingested(proc)
    assert _state(tmp_path)["pid"] == state["pid"]
    assert len(_served_runs(state)) == 3

    # Other settings: the service is left alone, the command runs the flow itself.
    _ingest({**env, "INTAJ_CHUNK_TOKENS": "128"}, PAGE, f"{name}-other")
    assert len(_served_runs(state)) == 3
    assert _state(tmp_path)["pid"] == state["pid"]

    stopped = subprocess.run(
        [sys.executable, "-m", "intaj.cli", "db", "stop"], env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert "flow service: stopped" in stopped.stdout, stopped.stderr[-2000:]
    assert not _alive(state["pid"])
    wait_for(lambda: not prefect_servers(tmp_path / "prefect"), timeout=15)
    assert not (tmp_path / "home" / "run" / "flows.json").exists()


def test_db_stop_stops_a_service_still_starting(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings, tmp_path)
    kick = "from core.settings import get_settings; from flows import service;"
    subprocess.run(
        [sys.executable, "-c", kick + " service.kick(get_settings())"],
        env=env,
        check=True,
        timeout=60,
    )  # fmt: skip  (what `intaj ingest` does first: start it, not wait for it)
    starting = (tmp_path / "home" / "run" / "flows.starting").read_text()
    stopped = subprocess.run(
        [sys.executable, "-m", "intaj.cli", "db", "stop"], env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert "flow service: stopped" in stopped.stdout, stopped.stderr[-2000:]
    wait_for(lambda: not _alive(int(starting.rsplit(":", 2)[1])), timeout=15)
    wait_for(lambda: not prefect_servers(tmp_path / "prefect"), timeout=15)
    assert not (tmp_path / "home" / "run" / "flows.starting").exists()


def test_a_killed_service_is_replaced_and_an_idle_one_ends(
    settings: Settings, pool: ConnectionPool, tmp_path: Path
) -> None:
    env = _env(settings, tmp_path, INTAJ_FLOW_SERVICE_IDLE_SECONDS="4")
    name = f"svc-kill-{tmp_path.name}"
    _ingest(env, PAGE, f"{name}-a")
    killed = _service_up(tmp_path)["pid"]
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: not prefect_servers(tmp_path / "prefect"), timeout=15)  # its server follows it

    _ingest(env, PAGE, f"{name}-b")  # runs its flow itself, then starts a new service
    wait_for(lambda: _alive(_service_up(tmp_path)["pid"]), timeout=90)
    replaced = _state(tmp_path)["pid"]
    assert replaced != killed

    # Idle for INTAJ_FLOW_SERVICE_IDLE_SECONDS: it stops by itself, its server with it.
    wait_for(lambda: not _alive(replaced), timeout=60)
    wait_for(lambda: not prefect_servers(tmp_path / "prefect"), timeout=15)
    assert not (tmp_path / "home" / "run" / "flows.json").exists()


def test_a_new_service_waits_for_the_command_and_its_temporary_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service a command starts as it ends loads only once that command and its Prefect
    server (asked to stop, not waited for) are both gone: neither shares its CPU nor its
    database with the new start."""
    from flows.service import _after_the_command
    from pipeline.run import worker as processes

    command, server = (subprocess.Popen(["sleep", "30"]) for _ in range(2))
    names = [processes.name_of(p.pid) for p in (command, server)]
    monkeypatch.setenv("INTAJ_SERVICE_AFTER", ",".join(names))
    started = threading.Event()
    waiter = threading.Thread(target=lambda: (_after_the_command(), started.set()))
    waiter.start()
    try:
        command.kill()
        command.wait()
        assert not started.wait(0.5)  # the server still runs
        server.kill()
        server.wait()
        assert started.wait(5)
    finally:
        for p in (command, server):
            p.kill()
        waiter.join()
    assert "INTAJ_SERVICE_AFTER" not in os.environ  # not handed to the service's children
