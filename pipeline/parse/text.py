"""Plain-text formats parsed without third-party code: txt (and JSON as text), Markdown, CSV.

Markdown: ATX (``# Title``) and setext (``Title`` / ``===``) headings update the heading path,
pipe tables become table sections, fenced code stays as text, links keep their text.
"""

from __future__ import annotations

import csv
import io
import re

from core.errors import ParseError
from core.types import Parsed, Section
from pipeline.parse.base import ParseLimits
from pipeline.parse.sections import SectionBuilder, clean_block

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


def decode_text(data: bytes) -> str:
    """Bytes as text: a BOM decides; else UTF-8; else Windows-1252 (never fails)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_txt(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """The whole file as one text section (blank-line paragraphs kept)."""
    body = clean_block(decode_text(data))
    return Parsed(sections=(Section(text=body),) if body else ())


def _table_row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _inline(line: str) -> str:
    return _LINK.sub(r"\1", _IMAGE.sub(r"\1", line))


def _feed_markdown(lines: list[str], out: SectionBuilder) -> None:
    fence: str | None = None
    paragraph: list[str] = []
    table: list[list[str]] = []

    def close() -> None:
        if paragraph:
            out.paragraph("\n".join(paragraph))
            paragraph.clear()
        if table:
            out.table(table)
            table.clear()

    for line in lines:
        fence_match = _FENCE.match(line)
        if fence is not None:
            paragraph.append(line)
            fence = None if fence_match and fence_match[1] == fence else fence
        elif fence_match:
            fence = fence_match[1]
            paragraph.append(line)
        elif atx := _ATX.match(line):
            close()
            out.heading(len(atx[1]), _inline(atx[2] or ""))
        elif _SETEXT.match(line) and len(paragraph) == 1 and not table:
            out.heading(1 if line.strip()[0] == "=" else 2, _inline(paragraph.pop()))
        elif _SETEXT.match(line):  # a thematic break (or "===" with nothing above it)
            close()
        elif line.lstrip().startswith("|") or (table and "|" in line):
            if paragraph:
                close()
            if not _TABLE_RULE.match(line):
                table.append(_table_row(line))
        elif not line.strip():
            close()
        else:
            if table:
                close()
            paragraph.append(_inline(line))
    close()


def parse_md(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """Markdown: headings, paragraphs, lists and pipe tables; the first heading is the title."""
    out = SectionBuilder()
    _feed_markdown(decode_text(data).replace("\x00", "").splitlines(), out)
    sections = out.build()
    title = next((s.headings[0] for s in sections if s.headings), None)
    return Parsed(sections=sections, title=title)


def parse_csv(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """CSV/TSV: one table section, a line per row ("a | b | c")."""
    content = decode_text(data).replace("\x00", "")
    if name.lower().endswith(".tsv"):
        dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(content[:4096], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(content, newline=""), dialect))
    except csv.Error as e:
        raise ParseError(
            f"{name} is not valid CSV ({e}); check the quoting or save it again as CSV",
            code="unparseable_csv",
        ) from e
    out = SectionBuilder()
    out.table(rows)
    return Parsed(sections=out.build())
