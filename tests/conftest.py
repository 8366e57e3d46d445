"""Shared fixtures: one embedded PostgreSQL + pgvector, one loaded model and one Prefect
server per test session (all real; nothing of ours is mocked).

Set DATABASE_URL to run against another server (e.g. Supabase); the tests create their own
chatbots with unique names and delete them afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="intaj-tests-"))
os.environ.setdefault("INTAJ_HOME", str(_HOME))
# the models' runtime files are built in the session's folder too, not the user's cache
os.environ.setdefault("INTAJ_MODEL_CACHE", str(_HOME / "models"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Each test's ingest runs its flow in its own process, as the tests of the flows expect; the
# home's flow service is tested on its own (tests/test_flow_service.py).
os.environ.setdefault("INTAJ_FLOW_SERVICE", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from psycopg_pool import ConnectionPool  # noqa: E402

from core.settings import Settings, get_settings  # noqa: E402
from db import chatbots as chatbots_db  # noqa: E402
from db import open_pool  # noqa: E402
from db.chatbots import Chatbot  # noqa: E402
from pipeline.embed import Embedder, get_embedder  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "intaj" / "examples"  # sample knowledge


@pytest.fixture(scope="session", autouse=True)
def _embedded_server_is_stopped_at_the_end() -> Iterator[None]:
    """The session's embedded server (in a temporary INTAJ_HOME) is stopped and removed."""
    yield
    from db.connection import close_pools, stop_embedded
    from pipeline.embed import service

    settings = get_settings()
    service.stop(settings)  # started by the CLI's query commands run in-process
    if settings.database_url or settings.home != _HOME:
        return
    close_pools()
    stop_embedded(settings.pgdata)
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def pool(settings: Settings) -> ConnectionPool:
    return open_pool(settings)


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    return get_embedder(settings)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A temporary Prefect server for the session's flow runs."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def make_chatbot(pool: ConnectionPool) -> Iterator[object]:
    """Create chatbots (owned by a fresh profile) that are deleted after the test."""
    created: list[str] = []

    def make(name: str | None = None, **kwargs: object) -> Chatbot:
        with pool.connection() as conn:
            owner = chatbots_db.create_profile(
                conn, name="test", email=f"{uuid.uuid4().hex}@test.invalid"
            )
            bot = chatbots_db.create(
                conn,
                user_id=owner,
                name=name or f"bot-{uuid.uuid4().hex[:8]}",
                **kwargs,  # type: ignore[arg-type]
            )
        created.append(owner)
        return bot

    yield make
    with pool.connection() as conn:
        for owner in created:
            conn.execute("DELETE FROM profiles WHERE id = %s", (owner,))


@pytest.fixture
def fresh_database(settings: Settings, pool: ConnectionPool) -> Iterator[str]:
    """An empty database on the same server (URL returned), dropped afterwards."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from db.connection import database_url

    url = database_url(settings)
    name = f"intaj_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(url, dbname=name)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a test module (tests/fix_web.py launches it)."""
    from tests.fix_web import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page of the module's browser, checked for errors afterwards."""
    from tests.fix_web import checked_page

    with checked_page(browser) as opened:
        yield opened
