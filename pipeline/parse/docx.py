"""DOCX with python-docx: body paragraphs and tables in document order.

"Heading N" and "Title" paragraphs update the heading path; other paragraphs (list items
prefixed "- ") merge into text sections under it; tables become table sections. Headers,
footers, comments and footnotes are left out. Before python-docx opens the file,
:mod:`pipeline.parse.zipcheck` refuses zip bombs and any part that declares a DOCTYPE.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from core.errors import ParseError
from core.types import Parsed
from pipeline.parse.base import ParseLimits
from pipeline.parse.sections import SectionBuilder, clean_inline
from pipeline.parse.zipcheck import check_archive

_HEADING = re.compile(r"^(?:heading\s*(\d)|title)$", re.IGNORECASE)


def _style_name(paragraph: Paragraph) -> str:
    try:
        style = paragraph.style
    except (KeyError, ValueError):
        return ""
    return (style.name or "") if style is not None else ""


def _heading_level(style: str) -> int | None:
    match = _HEADING.match(style.strip())
    if match is None:
        return None
    return int(match[1]) if match[1] else 1


def _rows(table: Table) -> Iterator[list[str]]:
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            if cell._tc is not previous:  # a merged cell is repeated once per grid column
                cells.append(cell.text)
            previous = cell._tc
        yield cells


def _feed(document: docx.document.Document, out: SectionBuilder) -> str | None:
    """Walk the body into ``out``; return the first Title/heading text (a fallback title)."""
    first_heading = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            out.table(_rows(block))
            continue
        style = _style_name(block)
        level = _heading_level(style)
        if level is not None:
            out.heading(level, block.text)
            first_heading = first_heading or clean_inline(block.text) or None
        elif style.lower().startswith("list") and block.text.strip():
            out.paragraph("- " + block.text)
        else:
            out.paragraph(block.text)
    return first_heading


def parse_docx(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """Sections of a DOCX; raises ``archive_rejected``, ``doctype_forbidden`` or
    ``unparseable_docx``."""
    check_archive(data, name)
    out = SectionBuilder()
    try:
        document = docx.Document(io.BytesIO(data))
        first_heading = _feed(document, out)
        title = clean_inline(document.core_properties.title or "") or first_heading
    except (ParseError, MemoryError):
        raise
    except Exception as e:  # python-docx/lxml raise KeyError, ValueError, XMLSyntaxError...
        raise ParseError(
            f"{name} is not a readable Word document ({type(e).__name__}: {e}); open it in "
            "Word and save it again as .docx",
            code="unparseable_docx",
        ) from e
    return Parsed(sections=out.build(), title=title)
