"""Building sections in document order: a heading path, merged paragraphs, and tables.

Every structured parser (DOCX, HTML, Markdown, unstructured elements) walks its document and
feeds a :class:`SectionBuilder`; the builder owns the rules they share:

- a heading of level N replaces the headings of level N and deeper on the path (a page that
  starts at h2 gives its h3s one parent each, not a chain of siblings); a trailing permalink
  mark ("¶", as Sphinx writes one into each heading) is not part of the heading;
- consecutive paragraphs under the same headings merge into one text section, joined by "\\n";
- a table is its own section (``kind="table"``), one line per row, cells joined by " | ";
- a division (an HTML ``<section>`` or ``<article>``, with or without a heading) ends the
  paragraphs before it, and its sections carry their own ``part``: chunks never join them;
- a document with headings but no body text keeps its headings as ``kind="title"`` sections.

The text cleaners here, used by every parser, also drop invisible bidi controls (LRM, RLM and
the like, :func:`pipeline.parse.rtl.strip_bidi_controls`): Word and web pages put them around
Latin words and digits in Arabic or Hebrew text, where they would split search terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from core.types import Section
from pipeline.parse.rtl import strip_bidi_controls

_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_inline(text: str) -> str:
    """One line of prose: NULs and bidi controls removed, runs of whitespace (newlines
    included) made one space."""
    return " ".join(strip_bidi_controls(text.replace("\x00", "")).split())


def clean_block(text: str) -> str:
    """A block that keeps its line breaks: NULs and bidi controls removed, spaces collapsed per
    line, at most one blank line in a row, no leading or trailing blank lines."""
    text = strip_bidi_controls(text.replace("\x00", "")).replace("\r\n", "\n").replace("\r", "\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def table_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows as lines, cells joined by " | "; blank rows dropped."""
    lines = []
    for row in rows:
        cells = [clean_inline(cell) for cell in row]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


class SectionBuilder:
    """Collects sections in order; see the module docstring for the rules."""

    def __init__(self, *, page: int | None = None) -> None:
        self._sections: list[Section] = []
        self._titles: list[Section] = []
        self._pending: list[str] = []
        self._headings: tuple[str, ...] = ()
        self._levels: tuple[int, ...] = ()  # the level of each entry of the heading path
        self._page = page
        self._part = 0

    @property
    def headings(self) -> tuple[str, ...]:
        return self._headings

    def set_page(self, page: int | None) -> None:
        """Sections from here on sit on ``page``; text never merges across pages."""
        if page != self._page:
            self.flush()
            self._page = page

    def division(self) -> None:
        """A structural boundary (a division starts or ends): what follows is a new part."""
        self.flush()
        self._part += 1

    def heading(self, level: int, text: str) -> None:
        """A heading of ``level`` (1 = top); blank headings are ignored."""
        text = clean_inline(text).removesuffix("¶").rstrip()
        if not text:
            return
        self.flush()
        level = max(1, level)
        kept = sum(1 for above in self._levels if above < level)
        self._headings = (*self._headings[:kept], text)
        self._levels = (*self._levels[:kept], level)
        self._titles.append(Section(text=text, page=self._page, headings=self._headings[:-1]))

    def paragraph(self, text: str) -> None:
        """Body text under the current headings; merged with the paragraphs right before it."""
        text = clean_block(text)
        if text:
            self._pending.append(text)

    def table(self, rows: Iterable[Sequence[str]]) -> None:
        text = table_text(rows)
        if text:
            self.flush()
            self._add(
                Section(
                    text=text, page=self._page, headings=self._headings, kind="table",
                    part=self._part,
                )
            )  # fmt: skip

    def flush(self) -> None:
        """Close the paragraphs collected so far into one section."""
        if self._pending:
            text = "\n".join(self._pending)
            self._pending = []
            self._add(Section(text=text, page=self._page, headings=self._headings, part=self._part))

    def build(self) -> tuple[Section, ...]:
        self.flush()
        if self._sections:
            return tuple(self._sections)
        return tuple(
            Section(text=t.text, page=t.page, headings=t.headings, kind="title")
            for t in self._titles
        )

    def _add(self, section: Section) -> None:
        self._sections.append(section)
