"""Bidirectional-text controls are removed from untrusted text before it leaves the server.

The embeddings (U+202A LRE, U+202B RLE), overrides (U+202D LRO, U+202E RLO), their end U+202C
PDF and the isolates (U+2066 LRI, U+2067 RLI, U+2068 FSI, U+2069 PDI) change how a browser
orders the characters around them. In a document, an FAQ or a file name they let text lie
about itself: an unclosed RLO shows the rest of a chat bubble backwards, links included, and
``invoice-<RLO>fdp.exe`` reads as ``invoice-exe.pdf`` ("Trojan Source", CVE-2021-42574).
Answers, snippets, passages and source names are given without them; the browser isolates
what it inserts (``dir="auto"``, ``<bdi>``) instead. The marks U+200E/U+200F/U+061C stay: they
only set the direction of the neutral characters beside them, as right-to-left text needs.
"""

from __future__ import annotations

from typing import Any

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_DROP = dict.fromkeys(map(ord, BIDI_CONTROLS))


def strip_bidi(text: str) -> str:
    """``text`` without bidi embedding, override and isolate controls. Character by character,
    so stripping the pieces of a stream joins to stripping the whole."""
    return text.translate(_DROP)


def strip_bidi_json(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string stripped,
    keys included."""
    if isinstance(value, str):
        return strip_bidi(value)
    if isinstance(value, dict):
        return {strip_bidi_json(k): strip_bidi_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_bidi_json(v) for v in value]
    return value
