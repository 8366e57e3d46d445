"""PDF with pypdf: one section per page that has text, ``page`` 1-based; title from metadata.

pypdf reads in non-strict mode (real-world PDFs are often slightly broken); anything it raises
becomes a ParseError. Its own per-stream limits guard against decompression bombs; the
per-document time and memory budget is the sandbox's job.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

from pypdf import PasswordType, PdfReader

from core.errors import ParseError
from core.types import Parsed, Section
from pipeline.parse.sections import clean_block, clean_inline

if TYPE_CHECKING:
    from pipeline.parse.registry import ParseLimits

# pypdf logs a warning for every oddity of a broken file; they are not ours to report.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def _unparseable(name: str, e: BaseException) -> ParseError:
    return ParseError(
        f"{name} is not a readable PDF ({type(e).__name__}: {e}); it may be truncated or "
        "damaged: re-export it from the original application or print it to a new PDF",
        code="unparseable_pdf",
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


def _pages(reader: PdfReader, name: str, limits: ParseLimits) -> tuple[int, list[Section]]:
    count = len(reader.pages)
    if count > limits.max_pages:
        raise ParseError(
            f"{name} has {count} pages, over the limit of {limits.max_pages}; split the "
            "document or raise INTAJ_PARSE_MAX_PAGES",
            code="too_many_pages",
        )
    sections = []
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        text = clean_block(page.extract_text() or "")
        if not text:
            continue
        chars += len(text)
        if chars > limits.max_text_chars:
            raise ParseError(
                f"{name} holds over {limits.max_text_chars:,} characters of text (reached on "
                f"page {number}); split the document or raise INTAJ_PARSE_MAX_TEXT_CHARS",
                code="document_too_large",
            )
        sections.append(Section(text=text, page=number))
    return count, sections


def parse_pdf(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """Text of every page; raises ``password_protected``, ``unparseable_pdf``,
    ``too_many_pages`` or ``document_too_large``."""
    try:
        reader = _open(data, name)
        count, sections = _pages(reader, name, limits)
    except (ParseError, MemoryError):
        raise
    except Exception as e:  # pypdf raises many types (PdfReadError, KeyError, ValueError...)
        raise _unparseable(name, e) from e
    return Parsed(sections=tuple(sections), title=_title(reader), pages=count)
