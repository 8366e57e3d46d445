"""PDF with pypdf: one section per page that has text, ``page`` 1-based; title from metadata.

A page with right-to-left letters (Arabic, Hebrew) is read again in pypdf's layout mode, which
places glyphs by position: every line comes out in visual order whatever order the producer
drew them in, and :func:`pipeline.parse.rtl.logical_text` puts it back in reading order and
folds Arabic presentation forms to letters. pypdf's plain mode keeps the other pages.

pypdf reads in non-strict mode (real-world PDFs are often slightly broken); anything it raises
becomes a ParseError. Its own per-stream limits guard against decompression bombs; the
per-document time and memory budget is the sandbox's job.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import LimitReachedError

from core.errors import ParseError
from core.types import Parsed, Section
from pipeline.parse.base import ParseLimits
from pipeline.parse.rtl import logical_text
from pipeline.parse.sections import clean_block, clean_inline
from pipeline.parse.visual_order import has_rtl

# pypdf logs a warning for every oddity of a broken file; they are not ours to report.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def _unparseable(name: str, e: BaseException) -> ParseError:
    return ParseError(
        f"{name} is not a readable PDF ({type(e).__name__}: {e}); it may be truncated or "
        "damaged: re-export it from the original application or print it to a new PDF",
        code="unparseable_pdf",
    )


def _over_limit(name: str, e: LimitReachedError) -> ParseError:
    return ParseError(
        f"{name} holds a stream that inflates past pypdf's safety limit ({e}); it looks like "
        "a decompression bomb or a damaged file: print it to a new PDF and upload that",
        code="resource_limit",
    )


def _open(data: bytes, name: str) -> PdfReader:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise ParseError(
            f"{name} is password protected; upload an unprotected copy",
            code="password_protected",
        )
    return reader


def _title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # a broken info dictionary must not fail the whole document
        return None
    return (clean_inline(str(title)) or None) if title else None


_DIGITS = re.compile(r"\d+")
EDGE_LINES = 3


def _line_key(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.lower().split()))


def strip_running_lines(pages: list[str]) -> list[str]:
    """Remove running headers and footers: lines near the top or bottom of a page that recur
    (numbers aside, as in "Page 3 of 9") on most pages of a document of three or more pages."""
    if len(pages) < 3:
        return pages
    edges = [
        {_line_key(x) for x in lines[:EDGE_LINES] + lines[-EDGE_LINES:]}
        for lines in (p.splitlines() for p in pages)
    ]
    counts = Counter(key for keys in edges for key in keys if key)
    running = {key for key, n in counts.items() if n >= max(3, 0.6 * len(pages))}
    cleaned = []
    for page in pages:
        lines = page.splitlines()
        top = [x for x in lines[:EDGE_LINES] if _line_key(x) not in running]
        middle = lines[EDGE_LINES:-EDGE_LINES] if len(lines) > 2 * EDGE_LINES else []
        rest = lines[EDGE_LINES:] if len(lines) <= 2 * EDGE_LINES else lines[-EDGE_LINES:]
        bottom = [x for x in rest if _line_key(x) not in running]
        cleaned.append("\n".join(top + middle + bottom).strip())
    return cleaned


def _page_text(page: PageObject) -> str:
    """The page's text; RTL lines in logical order (see the module docstring)."""
    text = page.extract_text() or ""
    if not has_rtl(text):
        return text
    try:
        layout = page.extract_text(extraction_mode="layout", layout_mode_space_vertically=False)
    except LimitReachedError:
        raise
    except Exception:  # layout mode trips on some fonts that plain mode reads: keep plain text
        layout = ""
    if not layout.strip():
        return logical_text(text, by_position=False)
    return logical_text(layout, by_position=True, spelling=text)


def _pages(reader: PdfReader, name: str, limits: ParseLimits) -> tuple[int, list[Section]]:
    count = len(reader.pages)
    if count > limits.max_pages:
        raise ParseError(
            f"{name} has {count} pages, over the limit of {limits.max_pages}; split the "
            "document or raise INTAJ_PARSE_MAX_PAGES",
            code="too_many_pages",
        )
    texts = []
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        text = clean_block(_page_text(page))
        chars += len(text)
        if chars > limits.max_text_chars:
            raise ParseError(
                f"{name} holds over {limits.max_text_chars:,} characters of text (reached on "
                f"page {number}); split the document or raise INTAJ_PARSE_MAX_TEXT_CHARS",
                code="document_too_large",
            )
        texts.append(text)
    sections = [
        Section(text=text, page=number)
        for number, text in enumerate(strip_running_lines(texts), start=1)
        if text
    ]
    return count, sections


def parse_pdf(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """Text of every page; raises ``password_protected``, ``unparseable_pdf``,
    ``too_many_pages``, ``document_too_large`` or ``resource_limit`` (a stream over pypdf's
    decompression limits)."""
    try:
        reader = _open(data, name)
        count, sections = _pages(reader, name, limits)
    except (ParseError, MemoryError):
        raise
    except LimitReachedError as e:  # a decompression bomb, stopped by pypdf's own limits
        raise _over_limit(name, e) from e
    except Exception as e:  # pypdf raises many types (PdfReadError, KeyError, ValueError...)
        raise _unparseable(name, e) from e
    return Parsed(sections=tuple(sections), title=_title(reader), pages=count)
