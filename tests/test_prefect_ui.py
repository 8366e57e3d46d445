"""The data team's day in Prefect's own UI: `prefect server start` with its UI, the warm worker
(`intaj serve-flows`), and headless Chromium. The `ingest-chatbot` custom-run form explains
its parameters and takes the chatbot's name; the run completes with its artifact and logs
each stage; a wrong name fails the run with one readable line in its logs. The parameter
schemas the server stores are read over the API: every parameter is described.

INTAJ_WEB_SCREENSHOTS=docs saves the form and the run for docs/orchestration.md."""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
from prefect.settings import PREFECT_API_URL, temporary_settings
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db.chatbots import Chatbot
from tests.fix_orchestration import (
    child_env,
    intaj_cmd,
    prefect_server,
    process,
    upload,
    wait_for,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "intaj" / "examples"
CHROMIUM = (
    os.environ.get("INTAJ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
SHOTS = os.environ.get("INTAJ_WEB_SCREENSHOTS")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)"),
]

FLOWS = ["ingest-data-source", "ingest-chatbot", "sync-faqs", "reembed-chatbot", "retry-failed"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_server(home, ui=True) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


@pytest.fixture(scope="module")
def worker(api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`intaj serve-flows`, its runs logging at INFO (Prefect's default level)."""
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    env = child_env(PREFECT_API_URL=api, PREFECT_LOGGING_LEVEL="INFO")
    with process(intaj_cmd("serve-flows", "--limit", "2"), env, log) as proc:

        def serving() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            return "serving 5 deployments" in log.read_text()

        wait_for(serving, timeout=120, every=0.5)
        yield log


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; Playwright's ``expect`` waits up to a minute (a loaded machine)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def shoot(page: Any, name: str) -> None:
    """A screenshot for the docs (INTAJ_WEB_SCREENSHOTS), in 128 colours."""
    if SHOTS:
        from PIL import Image

        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        shot = shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        shot.save(Path(SHOTS) / name, optimize=True)


def deployments() -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        return {client.read_flow(d.flow_id).name: d for d in client.read_deployments()}


def test_every_parameter_the_server_stores_is_described(worker: Path) -> None:
    """What Prefect stored (it drops some descriptions: flows/maintenance.py), not what the
    flows declare: named after their flows, every parameter described, none "type None"."""
    stored = deployments()
    assert {f: stored[f].name for f in FLOWS} == {f: f for f in FLOWS}
    for flow, deployment in stored.items():
        properties = deployment.parameter_openapi_schema["properties"]
        assert properties, flow
        for name, schema in properties.items():
            assert len(schema.get("description", "")) > 20, (flow, name, schema)
            assert "anyOf" not in schema and schema.get("type") != "null", (flow, name)
        assert "Args:" not in (deployment.description or ""), flow
    chatbot = stored["ingest-chatbot"].parameter_openapi_schema["properties"]["chatbot_id"]
    assert "name" in chatbot["description"]


def _run_of(deployment_id: Any, chatbot: str) -> Any:
    """The run of ``deployment_id`` made for ``chatbot``, once it has ended."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(),
        )
    found = [r for r in runs if r.parameters.get("chatbot_id") == chatbot]
    return found[0] if found and found[0].state and found[0].state.is_final() else None


def _submit(page: Any, ui: str, deployment_id: Any, chatbot: str, shot: str = "") -> None:
    """The deployment's *Run* > *Custom run* form, filled with ``chatbot`` and submitted."""
    from playwright.sync_api import expect

    page.goto(f"{ui}/deployments/deployment/{deployment_id}/run")
    field = page.locator(".schema-form-property").filter(
        has=page.locator(".schema-form-property__label", has_text=re.compile(r"^chatbot_id$"))
    )
    expect(field).to_contain_text("its name")  # the parameter's description
    field.locator("textarea, input").first.fill(chatbot)
    if shot:
        shoot(page, shot)
    page.get_by_role("button", name="Submit").click()
    expect(page).not_to_have_url(re.compile(r"/run$"))  # the UI leaves the form once created


def test_a_custom_run_by_the_chatbots_name_and_a_wrong_name(
    api: str,
    worker: Path,
    browser: Any,
    pool: ConnectionPool,
    settings: Settings,
    make_chatbot: Any,
) -> None:
    from playwright.sync_api import expect

    ui = api.removesuffix("/api")
    bot: Chatbot = make_chatbot(f"northwind-{uuid.uuid4().hex[:4]}")
    handbook = (EXAMPLES / "northwind-handbook.pdf").read_bytes()
    upload(pool, settings, bot.id, "northwind-handbook.pdf", handbook)
    deployment_id = deployments()["ingest-chatbot"].id
    context = browser.new_context(viewport={"width": 1280, "height": 1200})
    page = context.new_page()
    try:
        _submit(page, ui, deployment_id, bot.name, shot="prefect-form.png")
        run = wait_for(lambda: _run_of(deployment_id, bot.name), timeout=120, every=1)
        assert run.state.is_completed(), run.state
        assert run.name == f"ingest {bot.name} northwind-handbook.pdf"
        assert {f"chatbot:{bot.name}", "source:northwind-handbook.pdf", "trigger:ui"} <= set(
            run.tags
        )
        page.goto(f"{ui}/runs/flow-run/{run.id}")
        expect(page.get_by_text(run.name).first).to_be_visible()
        expect(page.get_by_text("Completed").first).to_be_visible()
        expect(page.get_by_text("stored", exact=False).first).to_be_visible()
        shoot(page, "prefect-run.png")
        page.get_by_text("Artifacts", exact=True).first.click()
        expect(page.get_by_text("ingestion-summary").first).to_be_visible()
        shoot(page, "prefect-artifacts.png")

        _submit(page, ui, deployment_id, "no-such-chatbot")
        failed = wait_for(lambda: _run_of(deployment_id, "no-such-chatbot"), timeout=60, every=1)
        assert failed.state.is_failed(), failed.state
        assert failed.name == "ingest no-such-chatbot: refused" and "trigger:ui" in failed.tags
        page.goto(f"{ui}/runs/flow-run/{failed.id}")
        expect(page.get_by_text("no chatbot named 'no-such-chatbot'").first).to_be_visible()
        shoot(page, "prefect-error.png")
    finally:
        context.close()
