"""The playground and the website widget in headless Chromium (Debian's `chromium`, driven by
Playwright's Python package through the system browser), against the real app on 127.0.0.1
with a really ingested chatbot and a real `intaj serve`.

The LLM is the local OpenAI-compatible server, streaming in small pieces with a pause, so the
answer visibly streams. The poisoned document and FAQ (tests/fix_web.py) try an ``<img
onerror>``, a canary image and foreign links: a canary window variable and a canary web
server must stay untouched. These tests skip, saying why, only when no Chromium is installed
(scripts/setup installs it with apt when it can). INTAJ_WEB_SCREENSHOTS=docs saves the
README's screenshots into docs/.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from core.settings import Settings
from pipeline.embed import Embedder
from tests.cli import intaj
from tests.fix_api import token
from tests.fix_orchestration import child_env, free_port, intaj_cmd, process, wait_for
from tests.fix_web import (
    ALLOWED_HOST,
    FOREIGN_HOST,
    LATE_QUESTION,
    NEEDS_CHROMIUM,
    POISON_QUESTION,
    Shop,
    ask_widget,
    served,
    shoot,
    shop,
    shop_page,
    web_settings,
    widget,
)
from tests.servers.openai_compat import ChatServer, running_chat_server

pytestmark = NEEDS_CHROMIUM
REPLY = (
    "Bringing the e-bike back one hour late costs 30 dollars: late returns are charged"
    " 15 dollars per started half hour [1]."
)
PER_IP = 3  # widget messages a minute per visitor, in this module's server


@pytest.fixture(scope="module")
def llm() -> Iterator[ChatServer]:
    with running_chat_server() as chat:
        chat.pause = 0.03
        chat.script(REPLY)
        yield chat


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    pool: ConnectionPool,
    embedder: Embedder,
    prefect_server: None,
) -> Iterator[Shop]:
    with shop(tmp_path_factory.mktemp("browser"), pool, embedder) as found:
        for name in ("main", "poison", "limits"):
            found.add_widget(pool, name, [found.site.base])
        yield found


@pytest.fixture(scope="module")
def base(settings: Settings, pool: ConnectionPool, world: Shop, llm: ChatServer) -> Iterator[str]:
    armed = web_settings(
        settings, llm_model="test-llm", llm_base_url=llm.base_url,
        llm_api_key=SecretStr("sk-test"), widget_ip_messages_per_minute=PER_IP,
    )  # fmt: skip
    with served(armed, pool) as url:
        for name, widget in world.widgets.items():
            world.site.page(f"/{name}.html", shop_page(url, widget))
        world.foreign.page("/main.html", shop_page(url, world.widgets["main"], "Not Northwind"))
        yield url


def assert_inert(page: Any, world: Shop, scope: Any) -> None:
    """Nothing the poison carried ran, loaded or became a link to a foreign host."""
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__intajPwned") is None
    assert world.canary.hits == []
    assert scope.locator("img").count() == 0
    for link in scope.locator("a").all():
        assert (link.get_attribute("href") or "").startswith(f"https://{ALLOWED_HOST}/")


def top_hit(world: Shop, question: str) -> dict[str, Any]:
    code, hits = intaj("search", "--chatbot", world.bot.name, question, "-k", "1", "--json")
    assert code == 0, hits
    return dict(hits[0])


def words(text: str) -> str:
    return " ".join(text.split())


# --- the playground --------------------------------------------------------------------------


def test_the_playground_streams_an_answer_and_opens_the_cited_passage(
    page: Any, base: str, world: Shop
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/playground#access_token={token(world.bot.user_id)}&chatbot={world.bot.id}")
    expect(page.locator("#chatbot")).to_have_value(world.bot.id)
    names = page.locator("#chatbot option").all_text_contents()
    assert world.bot.name in names and world.rival.name not in names  # the owner's own only
    assert "access_token" not in page.url  # the token left the address bar
    sources = page.locator("#sources tbody tr")
    expect(sources).to_have_count(2)
    expect(page.locator("#sources")).to_contain_text("northwind-handbook.pdf")
    for row in sources.all():
        expect(row.locator(".status")).to_have_text("ready")
    expect(page.locator("#faqs")).to_contain_text(POISON_QUESTION)
    expect(page.locator("#widgets pre").first).to_contain_text("/static/widget.js")
    usage = page.locator("#usage")  # the plan of the owner (the local profile: none) and use
    expect(usage).to_contain_text("Plan: none")
    expect(usage.locator("tr", has_text="Data sources")).to_contain_text("2 of no limit")

    # every text the answer bubble shows, as it changes
    page.evaluate("""() => { window.__seen = [];
        new MutationObserver(() => { const t = document.querySelector('#messages .assistant .text');
          if (t) window.__seen.push(t.textContent); })
        .observe(document.getElementById('messages'),
                 {childList: true, subtree: true, characterData: true}); }""")
    page.fill("#message", LATE_QUESTION)
    page.click("#send")
    answer = page.locator("#messages .assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".text")).to_have_text(re.compile(r"costs 30 dollars.*half hour\s*1"))
    seen = [t for t in page.evaluate("window.__seen") if t]
    partial = {t for t in seen if REPLY.startswith(t) and t != REPLY}
    assert len(partial) >= 3, seen  # shown piece by piece, before the whole answer

    best = top_hit(world, LATE_QUESTION)
    answer.locator("button.cite").first.click()
    expect(page.locator("#passage-title")).to_have_text("[1] northwind-handbook.pdf")
    expect(page.locator("#passage-where")).to_contain_text(f"page {best['metadata']['page']}")
    expect(page.locator("#passage-text")).to_have_attribute("data-loaded", "true")
    assert words(page.locator("#passage-text").inner_text()) == words(best["content"])
    shoot(page, "playground.png")


def test_the_playground_shows_poisoned_text_as_text(page: Any, base: str, world: Shop) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/playground#access_token={token(world.bot.user_id)}&chatbot={world.bot.id}")
    page.fill("#message", POISON_QUESTION)  # the poisoned FAQ answers it, filtered by the server
    page.click("#send")
    answer = page.locator("#messages .assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    expect(answer.locator(".text")).to_contain_text("Four bar.")
    expect(answer.locator(".text")).to_contain_text("(link removed)")  # the server's filter
    expect(answer.locator(".text")).not_to_contain_text("onerror")
    # the poisoned document's passage, opened whole: its allowed link is a link, nothing else
    question = "Where are the official tyre pressure tables and the tyre guide?"
    assert top_hit(world, question)["source"].endswith("tyre-care.md")
    page.fill("#message", question)
    page.click("#send")
    expect(page.locator("#messages .assistant")).to_have_count(2)  # this one, not the first
    answer = page.locator("#messages .assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    answer.locator("button.cite").first.click()
    expect(page.locator("#passage-title")).to_have_text("[1] tyre-care.md")
    passage = page.locator("#passage-text")
    expect(passage).to_have_attribute("data-loaded", "true")
    expect(passage).to_contain_text('<img src=x onerror="window.__intajPwned=1')
    expect(passage).to_contain_text(f"https://{FOREIGN_HOST}/steal?d=1")
    expect(passage.locator(f'a[href="https://{ALLOWED_HOST}/tyres"]')).to_have_count(1)
    assert_inert(page, world, page.locator("#app"))


# --- the widget ------------------------------------------------------------------------------


def test_the_widget_answers_on_an_allowed_site_and_keeps_the_conversation(
    page: Any, base: str, world: Shop, pool: ConnectionPool
) -> None:
    from playwright.sync_api import expect

    page.goto(world.site.url("/main.html"))
    widget(page).locator(".bubble").click()
    expect(widget(page).locator(".title")).to_have_text(world.bot.name)
    answer = ask_widget(page, LATE_QUESTION)
    expect(answer.locator(".text")).to_contain_text("costs 30 dollars")
    page_no = top_hit(world, LATE_QUESTION)["metadata"]["page"]
    expect(answer.locator("summary").first).to_have_text(
        f"[1] northwind-handbook.pdf, page {page_no}"
    )
    answer.locator("button.cite").first.click()  # the marker opens the source's snippet
    expect(answer.locator("details").first).to_have_attribute("open", "")
    shoot(page, "widget.png")
    key = f"intaj:widget:{world.widgets['main']}:conversation"
    conversation = page.evaluate(f"localStorage.getItem('{key}')")
    assert uuid.UUID(conversation)
    page.reload()  # a visitor comes back: the same conversation goes on
    widget(page).locator(".bubble").click()
    ask_widget(page, "And for two hours?")
    assert page.evaluate(f"localStorage.getItem('{key}')") == conversation
    with pool.connection() as conn:
        turns = conn.execute(
            "SELECT role FROM messages WHERE chatbot_id = %s AND conversation_id = %s"
            " ORDER BY created_at",
            (world.bot.id, conversation),
        ).fetchall()
    assert [r[0] for r in turns] == ["user", "assistant"] * 2


def test_the_widget_on_a_foreign_site_is_refused(
    page: Any, base: str, world: Shop, pool: ConnectionPool
) -> None:
    from playwright.sync_api import expect

    before = _turns(pool, world)
    page.goto(world.foreign.url("/main.html"))
    widget(page).locator(".bubble").click()
    expect(widget(page).locator(".status")).to_have_text("This chat is not available on this site.")
    expect(widget(page).locator("input")).to_be_disabled()
    # the page's own script cannot talk to it either: the preflight grants nothing
    outcome = page.evaluate(
        "async (url) => { try { const r = await fetch(url, {method: 'POST',"
        " headers: {'Content-Type': 'application/json'}, body: JSON.stringify({message: 'hi'})});"
        " return r.status; } catch (e) { return 'blocked'; } }",
        f"{base}/v1/widgets/{world.widgets['main']}/messages",
    )
    assert outcome == "blocked"
    assert _turns(pool, world) == before


def test_poisoned_answers_and_sources_render_inert_in_the_widget(
    page: Any, base: str, world: Shop
) -> None:
    from playwright.sync_api import expect

    page.goto(world.site.url("/poison.html"))
    widget(page).locator(".bubble").click()
    answer = ask_widget(page, POISON_QUESTION)
    expect(answer.locator(".text")).to_contain_text("Four bar.")
    expect(answer.locator(".text")).to_contain_text("(link removed)")  # the server's filter
    expect(answer.locator(".text")).not_to_contain_text("onerror")
    answer.locator("summary").first.click()
    expect(answer.locator(".snippet").first).to_contain_text("<img src=x onerror=")
    answer = ask_widget(page, "Where are the official tyre pressure tables and the guide?")
    for summary in answer.locator("summary").all():
        summary.click()
    assert_inert(page, world, widget(page))


def test_the_widget_shows_the_rate_limit(page: Any, base: str, world: Shop) -> None:
    from playwright.sync_api import expect

    page.goto(world.site.url("/limits.html"))
    widget(page).locator(".bubble").click()
    for n in range(PER_IP):
        ask_widget(page, f"Question {n + 1}: can I rent a helmet?")
    expect(widget(page).locator(".assistant")).to_have_count(PER_IP)
    box = widget(page)  # refused: its bubble goes as the refusal comes, so no ask_widget here
    box.locator("input").fill("One more question, too soon")
    box.locator("input").press("Enter")
    status = widget(page).locator(".status")
    expect(status).to_have_text(re.compile(r"too quickly\. Please wait \d+ s and try again\."))
    expect(widget(page).locator(".assistant")).to_have_count(PER_IP)  # no answer for it


# --- `intaj serve` ---------------------------------------------------------------------------


def test_intaj_serve_prints_a_playground_link_that_signs_in(
    page: Any, world: Shop, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    port, log = free_port(), tmp_path / "serve.log"
    env = child_env()
    for name in ("INTAJ_SERVICE_API_KEYS", "INTAJ_JWT_SECRET"):
        env.pop(name, None)
    with process(intaj_cmd("serve", "--port", str(port)), env, log) as proc:

        def link() -> str | None:
            assert proc.poll() is None, log.read_text()[-3000:]
            found = re.search(r"Playground: (\S+)", log.read_text())
            up = found and "Uvicorn running" in log.read_text()
            return found.group(1) if up and found else None

        url = wait_for(link, timeout=120, every=0.2)
        assert url.startswith(f"http://127.0.0.1:{port}/playground#key=local-")
        page.goto(url)
        expect(page.locator("#chatbot option", has_text=world.bot.name)).to_have_count(1)
        assert "key=" not in page.url
        assert url.split("#key=")[1] not in log.read_text().split("Playground:")[1][200:]


def _turns(pool: ConnectionPool, world: Shop) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM messages WHERE chatbot_id = %s", (world.bot.id,))
        return int(row.fetchone()[0])  # type: ignore[index]
