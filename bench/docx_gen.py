"""DOCX files for the corpus, written with python-docx from real text: one PostgreSQL
documentation chapter (its HTML pages, in order) per file, keeping headings, paragraphs,
list items, program listings and tables."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from bs4 import BeautifulSoup, Tag, XMLParsedAsHTMLWarning

_HEADINGS = {"h1": 1, "h2": 1, "h3": 2, "h4": 3, "h5": 4}
_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "p", "pre", "li", "dt", "table")


def _text(node: Tag) -> str:
    return " ".join(node.get_text(" ").split())


def _content(soup: BeautifulSoup) -> Tag:
    """The page body without the navigation header and footer."""
    for nav in soup.select("div.navheader, div.navfooter, div.toc"):
        nav.decompose()
    return soup.body or soup


def _add_table(document: object, table: Tag) -> None:
    rows = [[_text(cell) for cell in tr.find_all(["td", "th"])] for tr in table.find_all("tr")]
    rows = [r for r in rows if any(r)]
    if not rows:
        return
    width = max(len(r) for r in rows)
    grid = document.add_table(rows=len(rows), cols=width)  # type: ignore[attr-defined]
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            grid.cell(i, j).text = value


def write_chapter_docx(pages: Sequence[Path], target: Path) -> None:
    """Write the chapter made of ``pages`` (HTML) to ``target`` (DOCX)."""
    from docx import Document

    document = Document()
    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
    for page in pages:
        body = _content(BeautifulSoup(page.read_bytes(), "lxml"))
        for node in body.find_all(_BLOCKS):
            if node.find_parent(["table", "li", "pre"]) is not None:
                continue  # written with its container
            if node.name in _HEADINGS:
                document.add_heading(_text(node), level=_HEADINGS[node.name])
            elif node.name == "table":
                _add_table(document, node)
            elif node.name == "pre":
                document.add_paragraph(node.get_text().strip("\n"))
            elif node.name == "li":
                document.add_paragraph(_text(node), style="List Bullet")
            elif text := _text(node):
                document.add_paragraph(text)
    document.save(str(target))
