"""Scale-out: two process workers (separate processes) drain the `intaj-ingest` work pool,
fed by `intaj listen` in deployment mode, and ingest a batch of uploads with no duplicated work:
one claim, one flow run and one ingestion run per source, each flow run on exactly one worker.
The deployments come from prefect.yaml (`prefect deploy --all`)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.settings import PREFECT_API_URL, temporary_settings
from psycopg_pool import ConnectionPool

from core.settings import Settings
from tests.fix_orchestration import (
    ROOT,
    child_env,
    intaj_cmd,
    prefect_server,
    process,
    status_of,
    upload,
    wait_for,
)
from tests.test_orchestration import runs_per_source

pytestmark = pytest.mark.slow  # about 2-3 minutes: a server, a deploy, a model load per run


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_server(home) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        env = child_env(PREFECT_API_URL=url, INTAJ_PROJECT_DIR=str(ROOT))
        prefect = [sys.executable, "-m", "prefect"]
        pool = [*prefect, "work-pool", "create", "intaj-ingest", "--type", "process"]
        subprocess.run(pool, env=env, cwd=ROOT, check=True, capture_output=True)
        deploy = [*prefect, "--no-prompt", "deploy", "--all"]
        subprocess.run(deploy, env=env, cwd=ROOT, check=True, capture_output=True)
        yield url


def test_two_workers_drain_one_pool_without_duplicates(
    api: str,
    tmp_path: Path,
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: object,
) -> None:
    bot = make_chatbot()  # type: ignore[operator]
    env = child_env(
        PREFECT_API_URL=api,
        INTAJ_PROJECT_DIR=str(ROOT),
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    worker = [sys.executable, "-m", "prefect", "worker", "start", "--pool", "intaj-ingest"]
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    with (
        process([*worker, "--limit", "1", "--name", "a"], env, logs[0]),
        process([*worker, "--limit", "1", "--name", "b"], env, logs[1]),
        process(intaj_cmd("listen"), env, tmp_path / "listen.log"),
    ):
        ids = [
            upload(pool, settings, bot.id, f"batch-{i}.txt", f"Batch note {i}.".encode())
            for i in range(4)
        ]
        wait_for(lambda: all(status_of(pool, i)[0] == "ready" for i in ids), timeout=300, every=1)
    assert runs_per_source(pool, ids) == dict.fromkeys(ids, 1)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"chatbot:{bot.id}"]))
        )
    assert sorted(r.parameters["source_id"] for r in runs) == sorted(ids)
    ours = {str(r.id) for r in runs}
    ran = [executed(log) & ours for log in logs]
    assert ran[0] | ran[1] == ours  # every run went to a worker...
    assert not ran[0] & ran[1]  # ...to exactly one (a losing worker's submission is aborted)


def executed(log: Path) -> set[str]:
    """Flow runs a worker submitted and did not have aborted (another worker won the race)."""
    text = log.read_text()
    uuid_re = r"'([0-9a-f-]{36})'"
    submitted = set(re.findall(r"submitting flow run " + uuid_re, text))
    return submitted - set(re.findall(r"Aborted submission of flow run " + uuid_re, text))
