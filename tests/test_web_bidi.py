"""Arabic and hostile bidirectional text in the playground and the widget (headless Chromium,
the real app on 127.0.0.1, knowledge embedded by the real model).

An Arabic answer reads right to left in an English page, with its citation. A document that
carries bidi controls (U+202A-U+202E, U+2066-U+2069) cannot reverse a bubble or disguise a file
name: an FAQ answer with an unclosed RIGHT-TO-LEFT OVERRIDE used to show the rest of the
widget's bubble backwards, link included, and ``refund-form-<RLO>fdp.exe`` read as
``refund-form-exe.pdf``. What is checked is the layout: the x of each character as drawn.
INTAJ_WEB_SCREENSHOTS=docs saves docs/arabic-widget.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import connections as connections_db
from db.chatbots import Chatbot
from pipeline.embed import Embedder
from tests.fix_api import bearer, sse_events, token
from tests.fix_web import (
    ALLOWED_HOST,
    NEEDS_CHROMIUM,
    ask_widget,
    served,
    shoot,
    shop_page,
    web_settings,
    widget,
)
from tests.knowledge import add_document, add_faqs, tenants
from tests.servers.site import Site, running_site

pytestmark = NEEDS_CHROMIUM
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE, never closed
HOURS_QUESTION = "When is the shop open on Sundays?"
HOURS_ANSWER = f"Sundays 10 to 4. {RLO}See https://{ALLOWED_HOST}/hours for holidays."
ARABIC_QUESTION = "ما هي مدة الإرجاع؟"
ARABIC_ANSWER = "يمكنك إرجاع الدراجة خلال ٣٠ يومًا."
SPOOFED_FILE = f"refund-form-{RLO}fdp.exe"  # drawn as "refund-form-exe.pdf" when obeyed
REFUND_QUESTION = "How do I fill in the refund form?"
REFUND_PASSAGE = (
    "To fill in the refund form, print it, sign it at the bottom and bring it to any"
    " Northwind shop with your receipt."
)


@pytest.fixture(scope="module")
def bot(pool: ConnectionPool, embedder: Embedder) -> Iterator[Chatbot]:
    with tenants(pool, "northwind") as (found,):  # a new owner: the name is free
        add_faqs(pool, embedder, found, [
            (HOURS_QUESTION, HOURS_ANSWER), (ARABIC_QUESTION, ARABIC_ANSWER),
        ])  # fmt: skip
        add_document(pool, embedder, found, SPOOFED_FILE, [REFUND_PASSAGE])
        yield found


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with running_site() as found:
        yield found


@pytest.fixture(scope="module")
def shop_widget(pool: ConnectionPool, bot: Chatbot, site: Site) -> str:
    with pool.connection() as conn:
        return connections_db.add_website(
            conn, user_id=bot.user_id, chatbot_id=bot.id, origins=[site.base]
        ).id


@pytest.fixture(scope="module")
def base(settings: Settings, pool: ConnectionPool, site: Site, shop_widget: str) -> Iterator[str]:
    with served(web_settings(settings, widget_ip_messages_per_minute=30), pool) as url:
        site.page("/shop.html", shop_page(url, shop_widget))
        yield url


def xs(scope: Any, needle: str) -> list[float]:
    """The left edge of each character of ``needle`` as drawn, where it first occurs in a
    text node under ``scope``."""
    return list(
        scope.evaluate(
            """(root, needle) => {
                const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
                for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                    const at = node.data.indexOf(needle);
                    if (at < 0) continue;
                    return [...needle].map((_, i) => {
                        const range = document.createRange();
                        range.setStart(node, at + i);
                        range.setEnd(node, at + i + 1);
                        return range.getBoundingClientRect().left;
                    });
                }
                throw new Error(`no text node holds ${needle}`);
            }""",
            needle,
        )
    )


def reads_left_to_right(scope: Any, needle: str) -> bool:
    found = xs(scope, needle)
    return all(a < b for a, b in pairwise(found))


def direction(scope: Any) -> str:
    return str(scope.evaluate("(e) => getComputedStyle(e).direction"))


CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def assert_no_controls(scope: Any) -> None:
    text = scope.evaluate("(e) => e.textContent")
    assert not CONTROLS.search(text), ascii(text)


def open_widget(page: Any, site: Site) -> None:
    page.goto(site.url("/shop.html"))
    widget(page).locator(".bubble").click()


def open_playground(page: Any, base: str, bot: Chatbot) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/playground#access_token={token(bot.user_id)}&chatbot={bot.id}")
    expect(page.locator("#chatbot")).to_have_value(bot.id)


def ask_playground(page: Any, text: str) -> Any:
    from playwright.sync_api import expect

    before = page.locator("#messages .assistant").count()
    page.fill("#message", text)
    page.click("#send")
    expect(page.locator("#messages .assistant")).to_have_count(before + 1)
    answer = page.locator("#messages .assistant").last
    expect(answer).not_to_have_class(re.compile("streaming"))
    return answer


def assert_not_reversed(answer: Any) -> None:
    """The bidi FAQ's answer: no control left, and everything after it in logical order."""
    from playwright.sync_api import expect

    text = answer.locator(".text")
    expect(text).to_contain_text("Sundays 10 to 4.")
    link = text.locator(f'a[href="https://{ALLOWED_HOST}/hours"]')
    assert reads_left_to_right(link, "northwind")  # the link's text, not "dniwhtron"
    assert reads_left_to_right(text, "holidays")
    # the citation after the sentence stays after it (drawn to its right, or on a later line)
    cite, word = text.locator("button.cite").bounding_box(), xs(text, "holidays")
    assert cite["x"] > word[-1] or cite["y"] > link.bounding_box()["y"]
    assert direction(text) == "ltr"
    assert_no_controls(text)
    expect(link).to_have_text(f"https://{ALLOWED_HOST}/hours")


def assert_right_to_left(answer: Any) -> None:
    """The Arabic FAQ's answer: an RTL bubble, its first word drawn rightmost and the citation
    marker, which follows the sentence, at its left end."""
    from playwright.sync_api import expect

    text = answer.locator(".text")
    expect(text).to_contain_text(ARABIC_ANSWER)
    assert direction(text) == "rtl"
    first, stop = xs(text, "يمكنك")[0], xs(text, ".")[0]
    assert first > stop
    assert text.locator("button.cite").bounding_box()["x"] < stop


# --- the widget ------------------------------------------------------------------------------


def test_a_bidi_override_in_an_faq_does_not_reverse_the_widget_bubble(
    page: Any, base: str, site: Site
) -> None:
    open_widget(page, site)
    answer = ask_widget(page, HOURS_QUESTION)
    assert_not_reversed(answer)


def test_an_arabic_answer_reads_right_to_left_in_the_widget(
    page: Any, base: str, site: Site
) -> None:
    from playwright.sync_api import expect

    open_widget(page, site)
    answer = ask_widget(page, ARABIC_QUESTION)
    assert direction(widget(page).locator(".user").last) == "rtl"  # the visitor's question too
    assert_right_to_left(answer)
    expect(answer.locator("summary")).to_have_text("[1] FAQ")
    answer.locator("button.cite").click()
    snippet = answer.locator(".snippet")
    expect(snippet).to_have_text(ARABIC_ANSWER)
    assert direction(snippet) == "rtl"
    shoot(page, "arabic-widget.png")


def test_a_file_name_with_a_bidi_override_shows_as_it_is_in_the_widget(
    page: Any, base: str, site: Site
) -> None:
    from playwright.sync_api import expect

    open_widget(page, site)
    answer = ask_widget(page, REFUND_QUESTION)
    summary = answer.locator("summary").first
    expect(summary).to_have_text("[1] refund-form-fdp.exe")
    assert_no_controls(summary)
    assert reads_left_to_right(summary, "refund-form-fdp.exe")


# --- the playground --------------------------------------------------------------------------


def test_the_playground_shows_arabic_and_hostile_bidi_text_in_order(
    page: Any, base: str, bot: Chatbot
) -> None:
    from playwright.sync_api import expect

    open_playground(page, base, bot)
    assert_not_reversed(ask_playground(page, HOURS_QUESTION))
    answer = ask_playground(page, ARABIC_QUESTION)
    assert_right_to_left(answer)
    answer.locator("button.cite").click()
    expect(page.locator("#passage-text")).to_contain_text(ARABIC_ANSWER)
    assert direction(page.locator("#passage-text")) == "rtl"

    answer = ask_playground(page, REFUND_QUESTION)
    label = answer.locator(".citations button").first
    expect(label).to_have_text("[1] refund-form-fdp.exe")
    assert reads_left_to_right(label, "refund-form-fdp.exe")
    label.click()
    expect(page.locator("#passage-title")).to_have_text("[1] refund-form-fdp.exe")
    expect(page.locator("#passage-text")).to_have_attribute("data-loaded", "true")
    row = page.locator("#sources td.name", has_text="refund-form")
    expect(row).to_have_text("refund-form-fdp.exe")
    for scope in (page.locator("#messages"), page.locator("#passage"), page.locator("#sources")):
        assert_no_controls(scope)


def test_render_js_drops_bidi_controls_whatever_the_server_sends(
    page: Any, base: str, bot: Chatbot
) -> None:
    """Defence in depth: the browser's own renderer strips the controls too."""
    open_playground(page, base, bot)
    shown = page.evaluate(
        """async () => {
            const render = await import('/static/render.js');
            const box = document.createElement('div');
            const citations = [{number: 1, source: 'x/a\\u202egpj.exe', metadata: {}}];
            render.renderText(box, 'a \\u202eb\\u2066c\\u2069 [1] https://h.example/\\u202dx',
                              {citations, linkHosts: ['h.example'], onCite: () => {}});
            return [box.textContent, render.sourceName(citations[0].source),
                    render.citationLabel(document.createElement('span'), citations[0]).textContent];
        }"""
    )
    assert shown == ["a bc 1 https://h.example/x", "agpj.exe", "[1] agpj.exe"]


# --- the server ------------------------------------------------------------------------------


def test_the_server_sends_no_bidi_control_in_answers_names_or_passages(
    base: str, bot: Chatbot, site: Site, shop_widget: str
) -> None:
    """What leaves the server is stripped already (the browser's stripping is a second line):
    answers streamed and whole, citations, the owner's sources, FAQs and passages, search."""
    owner = bearer(bot.user_id)
    api = f"{base}/v1/chatbots/{bot.id}"
    replies: list[Any] = []
    for question in (HOURS_QUESTION, REFUND_QUESTION):
        sent = httpx.post(f"{base}/v1/widgets/{shop_widget}/messages", timeout=60,
                          json={"message": question}, headers={"Origin": site.base})  # fmt: skip
        replies.append(sse_events(sent.text))
        sent = httpx.post(f"{api}/messages", json={"message": question, "stream": True},
                          headers=owner, timeout=60)  # fmt: skip
        replies.append(sse_events(sent.text))
        replies.append(httpx.post(f"{api}/messages", json={"message": question}, headers=owner,
                                  timeout=60).json())  # fmt: skip
    refund = replies[-1]["citations"][0]
    assert refund["source"].endswith("/refund-form-fdp.exe")
    assert replies[-3][-1][1]["citations"][0]["source"] == "refund-form-fdp.exe"  # the widget's
    assert replies[0][-1][1]["answer"].startswith("Sundays 10 to 4. See https://")
    passage = httpx.get(f"{api}/passages/{refund['chunk_id']}", headers=owner).json()
    assert passage["source_name"] == "refund-form-fdp.exe"
    replies += [
        passage,
        httpx.get(f"{api}/sources", headers=owner).json(),
        httpx.get(f"{api}/faqs", headers=owner).json(),
        httpx.post(f"{api}/search", json={"query": HOURS_QUESTION}, headers=owner).json(),
    ]
    assert "refund-form-fdp.exe" in [s["name"] for s in replies[-3]["sources"]]
    assert HOURS_ANSWER.replace(RLO, "") in [f["answer"] for f in replies[-2]["faqs"]]
    for reply in replies:
        assert not CONTROLS.search(json.dumps(reply, ensure_ascii=False)), reply


def test_the_playground_sets_a_chatbot_language(
    page: Any, base: str, bot: Chatbot, pool: ConnectionPool
) -> None:
    from playwright.sync_api import expect

    from db import chatbots as chatbots_db

    with pool.connection() as conn:
        new = chatbots_db.create(conn, user_id=bot.user_id, name="متجر الدراجات")
    try:
        open_playground(page, base, new)
        expect(page.locator("#language")).to_have_value("en")
        page.select_option("#language", "ar")
        expect(page.locator("#language-status")).to_contain_text("now ar")
        with pool.connection() as conn:
            stored = chatbots_db.get(conn, chatbot_id=new.id)
        assert stored is not None and stored.language_code == "ar"
        page.goto("about:blank")
        open_playground(page, base, new)  # a new load reads it back
        expect(page.locator("#language")).to_have_value("ar")
    finally:
        with pool.connection() as conn:
            chatbots_db.delete(conn, chatbot_id=new.id)
