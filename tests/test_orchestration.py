"""Orchestration against a real Prefect server (started here on 127.0.0.1, one per module):
the upload trigger end to end, catch-up with two listeners, a killed flow run and its retry,
the deployments' parameter forms and reruns through the Prefect API, and the warm worker
(`intaj serve-flows`) running deployment runs in its own process with one model load."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import dispatch as dispatch_db
from db import sources as sources_db
from flows.maintenance import retry_failed
from flows.sweep import sweep
from retrieval.search import search
from tests.fix_orchestration import (
    child_env,
    intaj_cmd,
    prefect_server,
    process,
    status_of,
    upload,
    wait_for,
)

FIRST = "Northwind Bikes repairs punctures while you wait, in under fifteen minutes.\n"
SECOND = "Northwind Bikes now repairs punctures at the roadside with a cargo-bike van.\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_server(home) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def served(api: str, logs: Path) -> Iterator[subprocess.Popen[Any]]:
    """`intaj serve-flows`: every deployment, polled every 0.5 s, runs in its process."""
    env = child_env(PREFECT_API_URL=api)
    with process(intaj_cmd("serve-flows", "--limit", "2"), env, logs / "serve.log") as proc:

        def deployed() -> bool:
            assert proc.poll() is None, (logs / "serve.log").read_text()[-3000:]
            with get_client(sync_client=True) as client:
                return len(client.read_deployments()) >= 5

        wait_for(deployed, timeout=90, every=0.5)
        yield proc


def listen(api: str, logs: Path, name: str, *mode: str) -> Any:
    env = child_env(PREFECT_API_URL=api, INTAJ_LISTEN_SWEEP_SECONDS="2")
    return process(intaj_cmd("listen", *mode), env, logs / f"{name}.log")


def listening(logs: Path, name: str, proc: subprocess.Popen[Any]) -> bool:
    assert proc.poll() is None, (logs / f"{name}.log").read_text()[-3000:]
    return "listening on" in (logs / f"{name}.log").read_text()


def ready(pool: ConnectionPool, *ids: str) -> bool:
    return all(status_of(pool, i)[0] == "ready" for i in ids)


def runs_per_source(pool: ConnectionPool, ids: list[str]) -> dict[str, int]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT source_id::text, count(*) FROM ingestion_runs WHERE source_id = ANY(%s::uuid[])"
            " GROUP BY 1",
            (ids,),
        ).fetchall()
    return dict(rows)


def test_upload_is_ingested_and_visible_in_prefect(
    api: str, logs: Path, pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    bot = make_chatbot()
    with listen(api, logs, "e2e", "--mode", "in-process") as proc:
        wait_for(lambda: listening(logs, "e2e", proc), timeout=60)
        source_id = upload(pool, settings, bot.id, "repairs.txt", FIRST.encode())
        wait_for(lambda: ready(pool, source_id), timeout=30, every=0.2)
    hits = search(pool, settings, chatbot=bot, query="How fast are punctures fixed?", k=1)
    assert "fifteen minutes" in hits[0].content
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT flow_run_id::text FROM data_sources WHERE id = %s", (source_id,)
        ).fetchone()
    assert row is not None and row[0]
    with get_client(sync_client=True) as client:
        run = wait_for(
            lambda: (r := client.read_flow_run(row[0])).state.is_completed() and r, timeout=30
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    assert run.parameters == {"source_id": source_id}
    assert [a.key for a in artifacts] == [f"ingest-source-{source_id}"]
    assert artifacts[0].type == "table"


def test_listeners_catch_up_and_never_start_a_source_twice(
    api: str, logs: Path, pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    bot = make_chatbot()
    ids = [
        upload(pool, settings, bot.id, f"note-{i}.txt", f"Shop note {i}: {FIRST}".encode())
        for i in range(3)
    ]  # inserted while no listener runs
    two = ("--mode", "in-process")
    with listen(api, logs, "one", *two) as a, listen(api, logs, "two", *two) as b:
        wait_for(lambda: ready(pool, *ids), timeout=120, every=0.5)
        assert a.poll() is None and b.poll() is None
    assert runs_per_source(pool, ids) == dict.fromkeys(ids, 1)
    with pool.connection() as conn:
        attempts = conn.execute(
            "SELECT ingest_attempts FROM data_sources WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    assert attempts == [(1,)] * 3
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"chatbot:{bot.id}"]))
        )
    assert sorted(r.parameters["source_id"] for r in runs) == sorted(ids)


def test_killed_run_keeps_the_old_chunks_and_is_retried(
    api: str, logs: Path, pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    bot = make_chatbot()
    source_id = upload(pool, settings, bot.id, "repairs.txt", FIRST.encode())
    assert retry_or_ingest(pool, source_id) == "ready"
    before = chunk_set(pool, source_id)
    with pool.connection() as conn:  # a re-upload with new content
        path = conn.execute("SELECT path FROM data_sources WHERE id = %s", (source_id,)).fetchone()
    from pipeline.sources import storage_for

    storage_for(path[0], settings).write(path[0], SECOND.encode())  # type: ignore[index]
    with pool.connection() as conn:  # pending again, then claimed as a listener does
        sources_db.mark_pending(conn, source_id=source_id)
        assert dispatch_db.claim(conn, source_id=source_id) is not None
    code = f"from flows.ingest import ingest_data_source; ingest_data_source({source_id!r})"
    env = child_env(PREFECT_API_URL=api)
    with process([_python(), "-c", code], env, logs / "killed.log") as proc:
        wait_for(lambda: running_run(pool, source_id), timeout=60, every=0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert status_of(pool, source_id)[0] == "processing"
    assert chunk_set(pool, source_id) == before  # nothing half-written
    time.sleep(1.5)
    swept = sweep(pool, settings, lease_seconds=1)
    assert source_id in swept.failed_sources
    assert status_of(pool, source_id) == ("failed", "worker_lost")
    hits = search(pool, settings, chatbot=bot, query="punctures", k=1)
    assert "fifteen minutes" in hits[0].content  # still answering from the old chunks
    results = retry_failed(chatbot_id=bot.id, sweep_first=False)
    assert [r["status"] for r in results] == ["ready"]
    after = chunk_set(pool, source_id)
    assert len(after) == len({o for o, _ in after}) and any("cargo-bike" in c for _, c in after)
    with get_client(sync_client=True) as client:
        lost = client.read_flow_run(swept.lost_runs and flow_run_of(pool, swept.lost_runs[0]))
    assert lost.state is not None and lost.state.is_crashed()


def _python() -> str:
    import sys

    return sys.executable


def retry_or_ingest(pool: ConnectionPool, source_id: str) -> str:
    from flows.ingest import ingest_data_source

    ingest_data_source(source_id)
    return status_of(pool, source_id)[0]


def running_run(pool: ConnectionPool, source_id: str) -> bool:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT 1 FROM ingestion_runs WHERE source_id = %s AND status = 'running'",
            (source_id,),
        ).fetchone()
    return row is not None


def flow_run_of(pool: ConnectionPool, run_id: str) -> str:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT flow_run_id::text FROM ingestion_runs WHERE id = %s", (run_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def chunk_set(pool: ConnectionPool, source_id: str) -> list[tuple[int, str]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT ordinal, content FROM chunks WHERE source_id = %s ORDER BY ordinal, id",
            (source_id,),
        ).fetchall()
    return [(o, c) for o, c in rows]


def test_deployments_render_typed_forms_and_rerun_with_new_parameters(
    api: str, served: Any, pool: ConnectionPool, make_chatbot: Any
) -> None:
    with get_client(sync_client=True) as client:
        by_name = {
            f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()
        }
    assert set(by_name) >= {
        "ingest-data-source/ingest-data-source", "ingest-chatbot/ingest-chatbot",
        "sync-faqs/sync-faqs", "reembed-chatbot/reembed-chatbot", "retry-failed/retry-failed",
    }  # fmt: skip
    schema = {n: d.parameter_openapi_schema for n, d in by_name.items()}
    assert schema["ingest-data-source/ingest-data-source"]["required"] == ["source_id"]
    which = schema["ingest-chatbot/ingest-chatbot"]["properties"]["which"]
    assert which["enum"] == ["all", "pending", "failed", "pending_or_failed"]
    limit = schema["retry-failed/retry-failed"]["properties"]["limit"]
    assert (limit["type"], limit["minimum"], limit["default"]) == ("integer", 1, 100)
    drop = schema["reembed-chatbot/reembed-chatbot"]["properties"]["drop_previous"]
    assert drop["type"] == "boolean"
    undescribed = [
        f"{n}: {p}" for n, s in schema.items() for p, v in s["properties"].items()
        if not v.get("description") or "anyOf" in v
    ]  # fmt: skip
    assert undescribed == []  # every parameter described in the UI's form, none "type None"
    bot = make_chatbot()
    first = run_deployment(
        "retry-failed/retry-failed",
        parameters={"chatbot_id": bot.id},
        timeout=120,
        poll_interval=1,
    )
    again = run_deployment(
        "retry-failed/retry-failed",
        parameters={"chatbot_id": bot.id, "limit": 5, "error_codes": ["worker_lost"]},
        timeout=120,
        poll_interval=1,
    )
    for run in (first, again):
        assert run.state is not None and run.state.is_completed(), run.state
    assert again.parameters["limit"] == 5
    with pytest.raises(Exception, match=r"(?i)valid|schema|limit"):
        run_deployment("retry-failed/retry-failed", parameters={"limit": 0}, timeout=0)


def test_warm_worker_runs_deployment_runs_in_its_process_loading_the_model_once(
    api: str,
    served: Any,
    logs: Path,
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Any,
) -> None:
    bot = make_chatbot()
    first, second, third = (
        upload(pool, settings, bot.id, f"note-{i}.txt", f"Shop note {i}: {FIRST}".encode())
        for i in range(3)
    )  # pending: no listener runs here, the flow runs claim them themselves
    run = run_deployment(
        "ingest-data-source/ingest-data-source",
        parameters={"source_id": first},
        timeout=120,
        poll_interval=1,
        tags=["trigger:upload"],
    )
    with get_client(sync_client=True) as client:
        # Two runs as the UI's "Run" / "Custom run" makes them, at once (the worker's limit is 2)
        deployment = client.read_deployment_by_name("ingest-data-source/ingest-data-source")
        reruns = [
            client.create_flow_run_from_deployment(deployment.id, parameters={"source_id": s})
            for s in (second, third)
        ]

        def finished() -> list[Any]:
            now = [client.read_flow_run(r.id) for r in reruns]
            return now if all(r.state is not None and r.state.is_final() for r in now) else []

        reruns = wait_for(finished, timeout=180, every=0.5)
    for done in (run, *reruns):
        assert done.state is not None and done.state.is_completed(), done.state
    assert ready(pool, first, second, third)
    hits = search(pool, settings, chatbot=bot, query="How fast are punctures fixed?", k=1)
    assert "fifteen minutes" in hits[0].content
    # run by the worker itself, not by a child process: it logs each run once run_flow returns
    lines = [f"flow run {done.name} (ingest-data-source) completed in" for done in (run, *reruns)]

    def logged() -> str:
        text = (logs / "serve.log").read_text()
        return text if all(line in text for line in lines) else ""

    log = wait_for(logged, timeout=60)
    loads = re.findall(r"model loads in this process: (\d+)", log)
    assert len(loads) >= 4 and set(loads) == {"1"}, log[-3000:]  # start + one line per run


def test_listener_dispatch_creates_deployment_runs_with_one_client(
    api: str, served: Any, pool: ConnectionPool, settings: Settings, make_chatbot: Any
) -> None:
    """`intaj listen`'s dispatcher keeps one Prefect client and the deployment's id: each
    claim becomes a run of ingest-data-source/ingest-data-source that the warm worker takes,
    and the same claim dispatched twice is one run (its idempotency key)."""
    from flows.trigger import Dispatcher

    bot = make_chatbot()
    ids = [
        upload(pool, settings, bot.id, f"desk-{i}.txt", f"Desk note {i}: {SECOND}".encode())
        for i in range(2)
    ]
    # each notification claims its own source (fair ingestion, test_fair_claims.py, would
    # take the next sources in turn on any notification)
    first_come = settings.model_copy(update={"ingest_fair": False})
    dispatcher = Dispatcher(pool, first_come, "deployment")
    try:
        claims = [c for i in ids if (c := dispatcher.trigger(i)) is not None]
        assert len(claims) == 2
        client = dispatcher._prefect
        assert client is not None and dispatcher._deployment_id is not None
        assert dispatcher.trigger(ids[0]) is None  # processing: claimed already
        dispatcher.dispatch(claims[0])  # a retried dispatch of the same claim
        assert dispatcher._prefect is client
    finally:
        dispatcher.close()
    wait_for(lambda: ready(pool, *ids), timeout=180, every=0.5)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT flow_run_id::text FROM data_sources WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    run_ids = {r[0] for r in rows if r[0]}
    assert len(run_ids) == 2  # one run per source, the retried dispatch included
    with get_client(sync_client=True) as prefect:
        runs = prefect.read_flow_runs()
    mine = [r for r in runs if r.parameters.get("source_id") in ids]
    assert len(mine) == 2 and {str(r.id) for r in mine} == run_ids
    assert all("trigger:upload" in r.tags for r in mine)
