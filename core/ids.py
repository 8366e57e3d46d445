"""Identifiers and references as people and clients write them (pure)."""

from __future__ import annotations

import uuid


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a UUID in its canonical 36-character form (what PostgreSQL prints
    and our ids are; ``uuid.UUID`` alone also takes 32 hex digits, braces or a urn: prefix,
    which a chatbot's name may well look like)."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return len(value) == 36


def is_url(ref: str) -> bool:
    """Whether a source reference is an http(s) URL (any letter case), not a file path."""
    return ref[:8].lower().startswith(("http://", "https://"))
