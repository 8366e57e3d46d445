"""Plans (issue 27) on the one entry point that is not an upload: a flow run started by hand,
as a data team starts one from the Prefect UI (``ingest-chatbot`` with ``which=pending``,
``ingest-data-source`` with a source's id). A row the SaaS inserted past its owner's plan is
failed with ``plan_limit`` as the upload trigger's claim would fail it: never run, no run row,
no chunk; an upgrade lets the next run ingest it. Real flows on the session's Prefect server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.errors import PlanLimitError
from core.settings import Settings, get_settings
from tests.fix_orchestration import status_of, upload
from tests.test_plans import counts, upgrade


@pytest.fixture
def two_sources_free(prefect_server: None) -> Iterator[Settings]:
    """The process's settings with a free plan of two data sources per chatbot."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTAJ_PLANS", json.dumps({"free": {"sources_per_chatbot": 2}}))
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()


def test_a_run_from_the_ui_never_ingests_a_source_over_the_plan(
    pool: ConnectionPool, two_sources_free: Settings, make_chatbot: Any
) -> None:
    from flows.ingest import ingest_chatbot, ingest_data_source

    bot = make_chatbot()
    made = [
        upload(pool, two_sources_free, bot.id, f"rental-{i}.txt", b"Tandem bikes rent by the hour.")
        for i in range(3)
    ]
    results = ingest_chatbot(bot.id, which="pending")

    assert [r["status"] for r in results] == ["ready", "ready", "failed"]  # the order made
    assert "free plan's limit of 2 data sources per chatbot" in results[2]["error"]
    assert status_of(pool, made[2]) == ("failed", "plan_limit")
    assert counts(pool, bot)["runs"] == 2  # the third never ran
    with pool.connection() as conn:
        chunks = conn.execute(
            "SELECT count(*) FROM chunks WHERE source_id = %s", (made[2],)
        ).fetchone()
    assert chunks == (0,)

    with pytest.raises(PlanLimitError, match="limit of 2 data sources"):
        ingest_data_source(made[2])  # the one-source flow refuses it the same way
    assert counts(pool, bot)["runs"] == 2

    upgrade(pool, bot, "pro")  # no limit: the next run from the UI ingests it
    assert ingest_data_source(made[2])["status"] == "ready"
    assert status_of(pool, made[2]) == ("ready", None)
