"""Which parser reads which type, and the limits every parse runs under.

``PARSERS`` maps a detected type to its parser, one line each; adding a format is one module
plus one line here. :func:`parse_document` detects the type, runs the parser in a sandboxed
child process (see :mod:`pipeline.parse.sandbox`) and checks what comes back.

Errors (all :class:`core.errors.ParseError`, by ``code``): ``empty_document``,
``unsupported_format``, ``no_text``, ``document_too_large``, ``too_many_pages``,
``resource_limit``, ``parser_unavailable``, and the parsers' own (``password_protected``,
``unparseable_pdf``, ``archive_rejected``, ``doctype_forbidden``...).
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import ParseError
from core.types import Document, Parsed
from pipeline.parse import detect, docx, html, other, pdf, sandbox, text
from pipeline.parse.base import ParseLimits, Parser

__all__ = ["PARSERS", "ParseLimits", "Parser", "detect_type", "parse_document"]


PARSERS: Mapping[str, Parser] = {
    "pdf": pdf.parse_pdf,
    "docx": docx.parse_docx,
    "html": html.parse_html,
    "txt": text.parse_txt,
    "json": text.parse_txt,
    "md": text.parse_md,
    "csv": text.parse_csv,
    "tsv": text.parse_csv,
    **{kind: other.parser_for(kind) for kind in other.TYPES},
}


def _unsupported(name: str, why: str) -> ParseError:
    return ParseError(
        f"{name}: {why}; supported types are {', '.join(sorted(PARSERS))}",
        code="unsupported_format",
    )


def detect_type(data: bytes, name: str) -> str:
    """The parser type of a file: from its magic bytes, else its extension.

    Raises ``unsupported_format`` (naming the supported types) for anything else.
    """
    sniffed = detect.sniff(data)
    ext = detect.extension(name)
    if sniffed == "ole2":
        if ext == "msg" and "msg" in PARSERS:
            return "msg"
        raise _unsupported(
            name,
            "legacy Office files (.doc/.xls/.ppt) are not supported, save "
            "it as .docx/.xlsx/.pptx or PDF",
        )
    if sniffed is not None:
        return sniffed
    if ext in detect.TEXT_TYPES or ext == "":
        if not detect.looks_like_text(data):
            raise _unsupported(name, "the content is binary, not text")
        return ext or "txt"
    if ext in detect.MAGIC_TYPES:
        raise _unsupported(name, f"the content is not a valid .{ext} file")
    if ext in PARSERS:
        return ext
    raise _unsupported(name, f"the type {('.' + ext) if ext else ''} is not recognised")


def _check_text_size(parsed: Parsed, name: str, limits: ParseLimits) -> None:
    chars = sum(len(section.text) for section in parsed.sections)
    if chars > limits.max_text_chars:
        raise ParseError(
            f"{name} holds {chars:,} characters of text, over the limit of "
            f"{limits.max_text_chars:,}; split the document or raise INTAJ_PARSE_MAX_TEXT_CHARS",
            code="document_too_large",
        )
    if not any(section.text.strip() for section in parsed.sections):
        raise ParseError(
            f"{name} has no extractable text; if it is a scanned PDF, run OCR first",
            code="no_text",
        )


def parse_in_process(data: bytes, name: str, limits: ParseLimits) -> Parsed:
    """Detect, parse and check, in the calling process (what the sandboxed child runs)."""
    parsed = PARSERS[detect_type(data, name)](data, name, limits)
    _check_text_size(parsed, name, limits)
    return parsed


def parse_document(doc: Document, *, limits: ParseLimits | None = None) -> Parsed:
    """Parse one document into sections, within ``limits`` (defaults: :class:`ParseLimits`)."""
    limits = limits or ParseLimits()
    if not doc.data.strip():
        raise ParseError(f"{doc.name} is empty: it contains no text", code="empty_document")
    detect_type(doc.data, doc.name)  # fail fast, before a child process is started
    if not limits.sandbox:
        return parse_in_process(doc.data, doc.name, limits)
    return sandbox.run(
        parse_in_process,
        (doc.data, doc.name, limits),
        name=doc.name,
        max_seconds=limits.max_seconds,
        max_memory_bytes=limits.max_memory_bytes,
    )
