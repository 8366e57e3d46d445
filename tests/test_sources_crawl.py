"""The same-site crawler against a real site on 127.0.0.1 (test plan §6.2, U5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import SourceError
from core.settings import Settings
from pipeline.sources.crawl import crawl, origin
from tests.servers.netspy import ConnectSpy
from tests.servers.site import Site, running_site


@pytest.fixture
def other() -> Iterator[Site]:
    with running_site(lambda s: s.page("/secret", "secret", "text/plain")) as s:
        yield s


@pytest.fixture
def site(other: Site) -> Iterator[Site]:
    def setup(s: Site) -> None:
        s.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
        s.page(
            "/sitemap.xml",
            f"""<?xml version="1.0"?><sitemapindex>
            <sitemap><loc>{s.base}/sitemap-pages.xml</loc></sitemap>
            <sitemap><loc>{other.base}/sitemap.xml</loc></sitemap></sitemapindex>""",
            "application/xml",
        )
        s.page(
            "/sitemap-pages.xml",
            f"""<?xml version="1.0"?><urlset>
            <url><loc>{s.base}/from-sitemap.html</loc></url>
            <url><loc>{s.base}/private/hidden.html</loc></url>
            <url><loc>http://169.254.169.254/latest/meta-data/</loc></url>
            <url><loc>{other.base}/secret</loc></url></urlset>""",
            "application/xml",
        )
        links = [
            "/a.html",
            "/a.html#top",
            "doc.txt",
            "/private/secret.html",
            f"{other.base}/secret",
            "//evil.example/x",
            "https://example.com/",
            "javascript:alert(1)",
            "mailto:someone@example.com",
            f"/redirect?to={other.base}/secret",
            f"http://localhost:{s.port}/a.html",
        ]
        anchors = "".join(f'<a href="{href}">x</a>' for href in links)
        s.page("/", f"<html><body>{anchors}</body></html>")
        s.page("/a.html", '<a href="/deep/b.html">b</a>')
        s.page("/deep/b.html", '<a href="/deep/deeper.html">deeper</a>')
        s.page("/deep/deeper.html", "too deep")
        s.page("/from-sitemap.html", "listed in the sitemap")
        s.page("/doc.txt", "a text file", "text/plain")
        s.page("/private/secret.html", "robots says no")
        s.page("/private/hidden.html", "robots says no")

    with running_site(setup) as s:
        yield s


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ConnectSpy:
    return ConnectSpy().install(monkeypatch)


def settings_for(tmp_path: Path, site: Site) -> Settings:
    return Settings(home=tmp_path, url_allow_hosts=[site.host], url_timeout_seconds=10)


def test_crawl_stays_on_site_and_obeys_robots(
    site: Site, other: Site, tmp_path: Path, spy: ConnectSpy
) -> None:
    docs = crawl(site.url("/"), settings=settings_for(tmp_path, site), max_depth=2)
    assert {d.url for d in docs} == {
        site.url("/"),
        site.url("/a.html"),
        site.url("/doc.txt"),
        site.url("/deep/b.html"),
        site.url("/from-sitemap.html"),
    }
    assert all(d.data for d in docs)
    assert not [p for p in site.paths() if p.startswith("/private/")]
    assert "/deep/deeper.html" not in site.paths()
    assert other.hits == []
    assert {port for _, port in spy.dials} == {site.port}


def test_crawl_caps_pages_and_depth(site: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, site)
    assert len(crawl(site.url("/"), settings=settings, max_pages=2)) == 2
    only_seed = crawl(site.url("/a.html"), settings=settings, max_depth=0)
    assert [d.url for d in only_seed] == [site.url("/a.html")]


def test_crawl_without_robots_or_sitemap(tmp_path: Path) -> None:
    def setup(s: Site) -> None:
        s.page("/", '<a href="/next">next</a>')
        s.page("/next", "the end")

    with running_site(setup) as s:
        docs = crawl(s.url("/"), settings=settings_for(tmp_path, s))
    assert [d.url for d in docs] == [s.url("/"), s.url("/next")]


def test_robots_redirected_inside_means_stay_out(tmp_path: Path, spy: ConnectSpy) -> None:
    def setup(s: Site) -> None:
        s.pages["/robots.txt"] = (302, {"Location": "http://169.254.169.254/robots.txt"}, b"")
        s.page("/", "hello")

    with running_site(setup) as s, pytest.raises(SourceError) as info:
        crawl(s.url("/"), settings=settings_for(tmp_path, s))
    assert info.value.code == "forbidden"
    assert s.paths() == ["/robots.txt"]
    assert spy.hosts() == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("url", "code"),
    [("http://169.254.169.254/", "url_blocked"), ("file:///etc/passwd", "url_scheme_forbidden")],
)
def test_crawl_seed_goes_through_the_guard(
    url: str, code: str, tmp_path: Path, spy: ConnectSpy
) -> None:
    with pytest.raises(SourceError) as info:
        crawl(url, settings=Settings(home=tmp_path))
    assert info.value.code == code
    assert spy.dials == []


def test_origin_is_parsed_not_prefixed() -> None:
    assert origin("http://example.com/a") == origin("HTTP://EXAMPLE.COM:80/b")
    assert origin("http://example.com.evil.test/") != origin("http://example.com/")
    assert origin("https://example.com/") != origin("http://example.com/")
    assert origin("javascript:alert(1)") is None
