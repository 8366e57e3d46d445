"""A small same-site crawler on top of the guarded client.

Scope is the seed's origin (scheme, host, port), compared as parsed values, never by string
prefix. Every URL, robots.txt and sitemaps included, is fetched through
:class:`pipeline.sources.http.GuardedClient`, so redirects and discovered links get the same
address checks as the seed. ``robots.txt`` is honoured (a 4xx means no rules; any other failure
means stay out, per RFC 9309); ``sitemap.xml`` and the sitemaps robots.txt names seed the
frontier; ``<a href>`` links in HTML pages are followed up to ``max_depth``. At most
``max_pages`` documents are returned, each with its own URL.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from core.errors import SourceError
from core.settings import Settings
from core.types import Document
from pipeline.sources.http import USER_AGENT, GuardedClient, HTTPStatusError
from pipeline.sources.netguard import DEFAULT_PORTS, AddressPolicy

log = logging.getLogger(__name__)

ROBOTS_MAX_BYTES = 512 * 1024
SITEMAP_MAX_BYTES = 5 * 1024 * 1024
MAX_SITEMAPS = 5
_HTML = frozenset({"text/html", "application/xhtml+xml"})
_LOC = re.compile(r"<loc>\s*([^<\s]+)\s*</loc>", re.IGNORECASE)


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, or None for anything else."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return scheme, parts.hostname.lower().rstrip("."), parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def html_links(doc: Document) -> list[str]:
    """Absolute, fragment-free URLs of the ``<a href>`` links in an HTML document."""
    parser = _Links()
    parser.feed(doc.data.decode("utf-8", errors="replace"))
    base = doc.url or ""
    return [urldefrag(urljoin(base, href.strip()))[0] for href in parser.hrefs]


def sitemap_locs(data: bytes) -> tuple[list[str], bool]:
    """The ``<loc>`` URLs of a sitemap, and whether it is a sitemap index. Read with a regular
    expression, not an XML parser, so DTDs and entities mean nothing."""
    text = data.decode("utf-8", errors="replace")
    return [unescape(m) for m in _LOC.findall(text)], "<sitemapindex" in text.lower()


class _Crawl:
    def __init__(self, client: GuardedClient, seed: str, max_pages: int, max_depth: int):
        self.client = client
        self.home = origin(seed)
        parts = urlsplit(seed)
        self.root = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.robots = RobotFileParser()
        self.seen: set[str] = set()
        self.frontier: deque[tuple[str, int]] = deque()

    def in_scope(self, url: str) -> bool:
        return origin(url) == self.home and self.robots.can_fetch(USER_AGENT, url)

    def enqueue(self, url: str, depth: int) -> None:
        if depth <= self.max_depth and url not in self.seen and self.in_scope(url):
            self.seen.add(url)
            self.frontier.append((url, depth))

    def load_robots(self) -> None:
        try:
            doc = self.client.fetch(self.root + "/robots.txt", max_bytes=ROBOTS_MAX_BYTES)
        except SourceError as e:
            if isinstance(e, HTTPStatusError) and 400 <= e.status < 500:
                self.robots.parse([])  # no robots.txt: no rules
            else:  # blocked, 5xx, timed out, too large: stay out
                log.warning("robots.txt unavailable for %s (%s): not crawling", self.root, e)
                self.robots.parse(["User-agent: *", "Disallow: /"])
            return
        self.robots.parse(doc.data.decode("utf-8", errors="replace").splitlines())

    def load_sitemaps(self) -> None:
        pending = [*(self.robots.site_maps() or []), self.root + "/sitemap.xml"]
        done: set[str] = set()
        while pending and len(done) < MAX_SITEMAPS:
            url = pending.pop(0)
            if url in done or origin(url) != self.home:
                continue
            done.add(url)
            try:
                doc = self.client.fetch(url, max_bytes=SITEMAP_MAX_BYTES)
            except SourceError as e:
                log.info("no sitemap at %s (%s)", url, e.code)
                continue
            locs, is_index = sitemap_locs(doc.data)
            if is_index:
                pending.extend(locs)
            else:
                for loc in locs:
                    self.enqueue(urldefrag(loc)[0], 1)

    def run(self, seed: str) -> list[Document]:
        self.load_robots()
        if not self.in_scope(seed):
            raise SourceError(f"robots.txt of {self.root} does not allow {seed}", code="forbidden")
        self.seen.add(seed)
        self.frontier.append((seed, 0))
        self.load_sitemaps()
        pages: list[Document] = []
        while self.frontier and len(pages) < self.max_pages:
            url, depth = self.frontier.popleft()
            try:
                doc = self.client.fetch(url)
            except SourceError as e:
                if url == seed:
                    raise
                log.info("skipping %s: %s", url, e)
                continue
            final = doc.url or url
            if final != url and (origin(final) != self.home or final in self.seen):
                continue  # redirected off-site or onto a page we already have
            self.seen.add(final)
            pages.append(doc)
            if doc.mime in _HTML:
                for link in html_links(doc):
                    self.enqueue(link, depth + 1)
        return pages


def crawl(
    url: str,
    *,
    settings: Settings,
    max_pages: int | None = None,
    max_depth: int | None = None,
) -> list[Document]:
    """Fetch ``url`` and the same-origin pages reachable from it (see the module docstring)."""
    AddressPolicy.from_entries(settings.url_allow_hosts).check_url(url)
    pages = max_pages if max_pages is not None else settings.crawl_max_pages
    depth = max_depth if max_depth is not None else settings.crawl_max_depth
    with GuardedClient(settings) as client:
        return _Crawl(client, url, pages, depth).run(urldefrag(url)[0])
