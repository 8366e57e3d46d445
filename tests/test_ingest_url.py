"""URL data sources through `intaj ingest`: fetched by the guarded client, optionally crawled
(each same-site page a document of the source, cited by its own URL), against a site on
127.0.0.1 that INTAJ_URL_ALLOW_HOSTS admits (test plan §6.2)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.settings import get_settings
from tests.cli import intaj
from tests.servers.site import Site, running_site

PAGES = {
    "/": "Northwind Bikes rents city bikes by the hour from the harbour.",
    "/repairs.html": "Puncture repairs are done while you wait, usually within twenty minutes.",
    "/kids.html": "Child seats and balance bikes are lent free with every family rental.",
}


def html(title: str, text: str, links: list[str]) -> str:
    anchors = "".join(f'<a href="{href}">more</a> ' for href in links)
    return f"<html><head><title>{title}</title></head><body><p>{text}</p>{anchors}</body></html>"


@pytest.fixture(scope="module")
def site(prefect_server: None) -> Iterator[Site]:
    def setup(s: Site) -> None:
        s.page("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
        s.page("/", html("Home", PAGES["/"], ["/repairs.html", "/kids.html"]))
        s.page("/repairs.html", html("Repairs", PAGES["/repairs.html"], ["/"]))
        s.page("/kids.html", html("Kids", PAGES["/kids.html"], ["/repairs.html"]))

    with running_site(setup) as s, pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTAJ_URL_ALLOW_HOSTS", json.dumps([s.host]))
        get_settings.cache_clear()
        yield s
    get_settings.cache_clear()


@pytest.fixture
def chatbot(pool: ConnectionPool) -> Iterator[str]:
    name = f"url-{uuid.uuid4().hex[:6]}"
    yield name
    with pool.connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))


def test_a_url_is_ingested_alone_by_default(site: Site, chatbot: str) -> None:
    code, out = intaj("ingest", site.url("/"), "--chatbot", chatbot, "--json")
    assert code == 0, out
    code, hits = intaj("search", "--chatbot", chatbot, "puncture repairs", "--json")
    assert all("Puncture" not in h["content"] for h in hits)
    assert hits[0]["source"] == site.url("/")


def test_a_crawled_site_cites_each_page_by_its_url(site: Site, chatbot: str) -> None:
    code, out = intaj("ingest", site.url("/"), "--crawl", "--chatbot", chatbot, "--json")
    assert code == 0, out
    chunks = out["sources"][0]["chunks"]
    assert chunks >= len(PAGES)
    for path, text in PAGES.items():
        code, hits = intaj("search", "--chatbot", chatbot, text, "-k", "1", "--json")
        assert text in hits[0]["content"]
        assert hits[0]["metadata"]["url"] == site.url(path)
    # The source remembers it is a crawl: ingesting it again (unchanged) embeds nothing.
    code, again = intaj("ingest", site.url("/"), "--chatbot", chatbot, "--json")
    assert (code, again["sources"][0]["embedded"], again["sources"][0]["chunks"]) == (0, 0, chunks)


def test_a_blocked_url_fails_alone(site: Site, chatbot: str, tmp_path: Any) -> None:
    good = tmp_path / "note.txt"
    good.write_text("Rentals end at sunset.\n")
    code, out = intaj(
        "ingest", "http://169.254.169.254/latest/meta-data/", str(good), "--chatbot", chatbot,
        "--json",
    )  # fmt: skip
    assert code == 1
    blocked, ok = out["sources"]
    assert blocked["status"] == "failed" and "refusing to fetch" in blocked["error"]
    assert ok["status"] == "ready"
