"""What the playground and widget tests share: a really ingested chatbot (the handbook PDF of
intaj/examples/ and a poisoned document and FAQ), another owner's chatbot, website widgets, the
real app served by uvicorn on 127.0.0.1, and headless Chromium (Debian's `chromium`, driven by
Playwright's Python package through the system browser)."""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import chatbots as chatbots_db
from db import connections as connections_db
from db.chatbots import Chatbot
from intaj.http import create_app
from pipeline.embed import Embedder
from tests.cli import intaj
from tests.fix_api import api_settings
from tests.knowledge import add_document, add_faqs, tenants
from tests.servers.asgi import serving
from tests.servers.site import Site, running_site

EXAMPLES = Path(__file__).resolve().parent.parent / "intaj" / "examples"

LATE_QUESTION = "How much extra will I pay if I bring my rented e-bike back one hour late?"
POISON_QUESTION = "What pressure should my tyres have?"
ALLOWED_HOST = "northwind.example"
FOREIGN_HOST = "evil.example"
CHROMIUM = (
    os.environ.get("INTAJ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium installed (Debian: apt-get install chromium; scripts/setup does it as"
    " root): the browser tests of the playground and the widget did not run",
)
SHOTS = os.environ.get("INTAJ_WEB_SCREENSHOTS")
TIMEOUT = 60_000  # ms: a loaded CI machine answers slowly


def poisoned_markdown(canary: Site) -> str:
    """A document that tries markup, a canary image and foreign links on whoever renders it."""
    onerror = f"window.__intajPwned=1;fetch('{canary.url('/onerror')}')"
    return (  # one paragraph on one line: one chunk (chunks are cut between lines)
        "# Tyre care\n\n"
        f'Pump your tyres to 4 bar before every ride <img src=x onerror="{onerror}"> and check'
        f" both valves; the tyre pressure guide is at https://{FOREIGN_HOST}/steal?d=1 and the"
        f" [full guide]({canary.url('/link')}) ![logo]({canary.url('/image')}), and official"
        f" tyre pressure tables live at https://{ALLOWED_HOST}/tyres for every model we rent.\n"
    )


def poisoned_faq(canary: Site) -> tuple[str, str]:
    return (
        POISON_QUESTION,
        f"Four bar. <img src=x onerror=\"window.__intajPwned=1;fetch('{canary.url('/faq')}')\">"
        f' Details: https://{FOREIGN_HOST}/faq and <a href="{canary.url("/a")}">this</a>.',
    )


def web_settings(settings: Settings, **update: Any) -> Settings:
    return api_settings(settings).model_copy(
        update={"llm_link_allow_hosts": [ALLOWED_HOST], **update}
    )


@dataclass
class Shop:
    """The chatbot under test (owned by the CLI's local profile) and the world around it."""

    bot: Chatbot
    rival: Chatbot  # another owner's chatbot, with knowledge and a widget of its own
    rival_widget: str
    canary: Site
    site: Site  # the owner's web site: its origin is allowed
    foreign: Site  # a web site that is not
    widgets: dict[str, str] = field(default_factory=dict)

    def add_widget(self, pool: ConnectionPool, name: str, origins: list[str]) -> str:
        with pool.connection() as conn:
            widget = connections_db.add_website(
                conn, user_id=self.bot.user_id, chatbot_id=self.bot.id, origins=origins
            )
        self.widgets[name] = widget.id
        return widget.id


@contextmanager
def shop(tmp: Path, pool: ConnectionPool, embedder: Embedder) -> Iterator[Shop]:
    """Ingest the shop's chatbot for real (`intaj ingest`, `intaj faq add`) and set up the
    rival, the canary and the two web sites. Everything is deleted afterwards."""
    name = f"northwind-{uuid.uuid4().hex[:6]}"
    with running_site() as canary, running_site() as site, running_site() as foreign:
        poison = tmp / "tyre-care.md"
        poison.write_text(poisoned_markdown(canary), encoding="utf-8")
        code, out = intaj(
            "ingest", str(EXAMPLES / "northwind-handbook.pdf"), str(poison), "--chatbot", name,
            "--json",
        )  # fmt: skip
        assert code == 0, out
        question, answer = poisoned_faq(canary)
        code, out = intaj("faq", "add", "--chatbot", name, "--question", question,
                          "--answer", answer)  # fmt: skip
        assert code == 0, out
        with pool.connection() as conn:
            bot = chatbots_db.find(conn, ref=name)
        assert bot is not None
        try:
            with tenants(pool, f"rival-{uuid.uuid4().hex[:6]}") as (rival,):
                add_document(pool, embedder, rival, "rival-prices.txt", [
                    "Rival rentals: late returns cost nothing at all, ever, at the rival shop.",
                ])  # fmt: skip
                add_faqs(pool, embedder, rival, [("Rival secret question?", "Rival secret.")])
                with pool.connection() as conn:
                    rival_widget = connections_db.add_website(
                        conn, user_id=rival.user_id, chatbot_id=rival.id, origins=[site.base]
                    ).id
                yield Shop(bot, rival, rival_widget, canary, site, foreign)
        finally:
            with pool.connection() as conn:
                chatbots_db.delete(conn, chatbot_id=bot.id)


@contextmanager
def served(settings: Settings, pool: ConnectionPool) -> Iterator[str]:
    """The real app (API, playground, widget) under uvicorn; its base URL."""
    with serving(create_app(settings, pool=pool)) as base:
        yield base


def shop_page(server: str, widget_id: str, title: str = "Northwind Bikes") -> str:
    """An owner's page with the widget's script tag, as they would paste it."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ margin: 0; font: 16px/1.5 Georgia, serif; color: #222; background: #fbfaf7; }}
header {{ background: #1f3b2d; color: #fff; padding: 18px 40px; font-size: 22px; }}
main {{ padding: 30px 40px; max-width: 640px; }}
h1 {{ font-size: 30px; margin: 0 0 10px; }}
</style></head>
<body><header>{title}</header>
<main><h1>E-bikes for every hill</h1>
<p>City bikes, e-bikes and cargo bikes by the hour or the day. Helmets included, repairs while
you wait, and a chat that answers from our handbook.</p></main>
<script src="{server}/static/widget.js" data-chatbot="{widget_id}" async></script>
</body></html>"""


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium, with Playwright's ``expect`` waiting up to TIMEOUT."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def checked_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context; on leaving, no script of ours may have failed in it."""
    context = browser.new_context(viewport={"width": 1200, "height": 760})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == [], errors


def shoot(page: Any, name: str) -> None:
    """Save a screenshot for the docs (INTAJ_WEB_SCREENSHOTS), in 128 colours: a third of the
    bytes, the same look."""
    if SHOTS:
        from PIL import Image

        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        shot = shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        shot.save(Path(SHOTS) / name, optimize=True)


def widget(page: Any) -> Any:
    return page.locator(".intaj-widget")  # Playwright's CSS pierces the open shadow root


def ask_widget(page: Any, text: str) -> Any:
    """Send ``text`` in the open widget; its answer, once it has stopped streaming."""
    from playwright.sync_api import expect

    box = widget(page)
    before = box.locator(".assistant").count()
    box.locator("input").fill(text)
    box.locator("input").press("Enter")
    # this message's answer, not the one before it (already done: a count of streaming
    # bubbles is 0 before the new one appears, too)
    expect(box.locator(".assistant")).to_have_count(before + 1)
    expect(box.locator(".assistant.streaming")).to_have_count(0)
    return box.locator(".assistant").last
