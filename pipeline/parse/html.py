"""HTML with BeautifulSoup (lxml tree builder): the readable content, not the page chrome.

Scripts, styles, navigation, headers, footers, asides, forms and hidden elements are dropped.
When the page has a ``<main>`` (or else ``<article>``s) only text inside them is kept. Block
elements are walked in order with an explicit stack (no recursion: a page of 100,000 nested
``<div>`` is fine); h1-h6 update the heading path, text between block boundaries becomes
paragraphs, tables become table sections, and ``<section>``/``<article>`` (and the
``<div class="section">``, ``sect1``... of DocBook and older Sphinx) start and end divisions
that chunks never cross (pages whose sections have no headings, such as FAQ answers under
removed or styled questions, keep each answer in chunks of its own). The title is
``<title>``, else the first ``<h1>``.
Nothing is fetched: no images, no external entities.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from core.errors import ParseError
from core.types import Parsed
from pipeline.parse.base import ParseLimits
from pipeline.parse.sections import SectionBuilder, clean_inline

DROPPED = frozenset(
    {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template",
     "svg", "iframe", "object", "embed", "canvas", "button", "select", "head"}
)  # fmt: skip
BLOCKS = frozenset(
    {"address", "article", "blockquote", "body", "br", "caption", "center", "dd", "details",
     "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "hr", "html", "li", "main",
     "ol", "p", "section", "summary", "td", "th", "tr", "ul"}
)  # fmt: skip
HEADINGS = {f"h{level}": level for level in range(1, 7)}
DIVISIONS = frozenset({"section", "article"})  # their text never shares a chunk with others
# The same divisions written as <div class="..."> by generators that predate <section>:
# DocBook's XSL (the Debian and PostgreSQL manuals: section, sect1-5, chapter, qandaentry...)
# and docutils' HTML 4 writer (Sphinx before 4: <div class="section">).
DIVISION_CLASSES = frozenset(
    {"section", "sect1", "sect2", "sect3", "sect4", "sect5", "simplesect", "refsect1",
     "refsect2", "refsect3", "refsection", "chapter", "appendix", "preface", "qandaentry",
     "qandadiv"}
)  # fmt: skip


def _is_division(tag: Tag) -> bool:
    if tag.name in DIVISIONS:
        return True
    return tag.name == "div" and not DIVISION_CLASSES.isdisjoint(tag.get("class") or ())


def _dropped(tag: Tag) -> bool:
    return (
        tag.name in DROPPED
        or tag.get("role") == "navigation"
        or tag.has_attr("hidden")
        or tag.get("aria-hidden") == "true"
    )


def table_rows(table: Tag) -> Iterator[list[str]]:
    for row in table.find_all("tr"):
        yield [cell.get_text(" ") for cell in row.find_all(("td", "th"), recursive=False)]


class _Walker:
    """The iterative walk; ``focus`` names the elements whose text is kept (None: all)."""

    def __init__(self, out: SectionBuilder, focus: frozenset[str] | None) -> None:
        self.out = out
        self.focus = focus
        self.inside = 0 if focus else 1
        self.buffer: list[str] = []

    def flush(self) -> None:
        text = clean_inline("".join(self.buffer))
        self.buffer.clear()
        if text and self.inside:
            self.out.paragraph(text)

    def walk(self, root: Tag) -> None:
        stack: list[tuple[PageElement, bool]] = [(root, True)]
        while stack:
            node, entering = stack.pop()
            if not entering:
                self.flush()
                if isinstance(node, Tag) and _is_division(node):
                    self.out.division()
                self.inside -= bool(self.focus and node.name in self.focus)  # type: ignore[attr-defined]
            elif isinstance(node, NavigableString):
                if not isinstance(node, PreformattedString):  # comments, CDATA, doctype...
                    self.buffer.append(str(node))
            elif isinstance(node, Tag) and not _dropped(node):
                stack.extend(self._enter(node))

    def _enter(self, tag: Tag) -> list[tuple[PageElement, bool]]:
        """What to push for ``tag``: nothing for a leaf block handled here, else its children
        (reversed, for the stack) under an exit marker."""
        name = tag.name
        if name in HEADINGS or name in ("table", "pre"):
            self.flush()
            if self.inside and name == "table":
                self.out.table(table_rows(tag))
            elif self.inside and name == "pre":
                self.out.paragraph(tag.get_text())
            elif self.inside:
                self.out.heading(HEADINGS[name], tag.get_text(" "))
            return []
        if name not in BLOCKS:
            return [(child, True) for child in reversed(tag.contents)]
        self.flush()
        if _is_division(tag):
            self.out.division()
        self.inside += bool(self.focus and name in self.focus)
        return [(tag, False), *((child, True) for child in reversed(tag.contents))]


def _landmarks(soup: BeautifulSoup) -> tuple[str | None, frozenset[str] | None]:
    """The page title and which elements hold the content, found in one pass over the tree."""
    first: dict[str, str] = {}
    for tag in soup.find_all(("title", "h1", "main", "article")):
        if tag.name not in first and (tag.name in ("main", "article") or tag.get_text().strip()):
            first[tag.name] = clean_inline(tag.get_text(" ")) if tag.name in ("title", "h1") else ""
    title = first.get("title") or first.get("h1") or None
    focus = next((frozenset({name}) for name in ("main", "article") if name in first), None)
    return title, focus


def parse_html(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """The readable text of an HTML page; raises ``unparseable_html`` if it cannot be read."""
    try:
        with warnings.catch_warnings():
            # XHTML (Sphinx, DocBook, ...) is read with the HTML parser on purpose: it
            # tolerates broken markup and resolves no entities. bs4 would print a screenful
            # into the user's output for every such page.
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            soup = BeautifulSoup(data, "lxml")
        title, focus = _landmarks(soup)
        out = SectionBuilder()
        _Walker(out, focus).walk(soup)
    except (ParseError, MemoryError):
        raise
    except Exception as e:  # lxml/bs4 failures, RecursionError in a builder
        raise ParseError(
            f"{name} is not readable HTML ({type(e).__name__}: {e}); save the page again or "
            "upload it as PDF",
            code="unparseable_html",
        ) from e
    return Parsed(sections=out.build(), title=title)
