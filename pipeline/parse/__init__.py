"""Parsing: bytes of one document -> :class:`core.types.Parsed` (sections with page/headings).

One parser per type behind a registry keyed by the detected type; types are detected from
magic bytes first and the file name second. Entry point: :func:`parse_document`.
"""

from pipeline.parse.registry import detect_type, parse_document

__all__ = ["detect_type", "parse_document"]
