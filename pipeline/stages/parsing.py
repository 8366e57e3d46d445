"""Parse: a document's sections (one parser per type, in a sandboxed child process); a crawl's
pages each cited by their own URL."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from core.errors import ParseError
from core.settings import Settings
from core.types import Document, Parsed, Section
from pipeline.parse import parse_document
from pipeline.parse.base import ParseLimits

log = logging.getLogger(__name__)


def parse(document: Document, settings: Settings, pages: Sequence[Document] = ()) -> Parsed:
    """Sections of a document; of a crawl, every page's sections, each cited by its page's
    URL (a page that cannot be parsed is skipped; the crawl fails only if none can)."""
    limits = ParseLimits(
        max_seconds=settings.parse_max_seconds,
        max_memory_bytes=settings.parse_max_memory_bytes,
        max_pages=settings.parse_max_pages,
        max_text_chars=settings.parse_max_text_chars,
        sandbox=settings.parse_sandbox,
    )
    if not pages:
        return parse_document(document, limits=limits)
    sections: list[Section] = []
    failures: list[ParseError] = []
    for page in pages:
        try:
            parsed = parse_document(page, limits=limits)
        except ParseError as e:
            log.info("skipping crawled page %s: %s", page.url, e)
            failures.append(e)
            continue
        sections.extend(dataclasses.replace(s, url=s.url or page.url) for s in parsed.sections)
    if not sections:
        raise failures[0]
    return Parsed(sections=tuple(sections))
