"""What every parser shares: the limits a parse runs under and the parser's signature (the
registry and the parsers both import this; it imports neither)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.types import Parsed


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Per-document budget. ``sandbox=False`` parses in this process (no time/memory limit)."""

    max_seconds: float = 60.0
    max_memory_bytes: int = 1536 * 1024 * 1024
    max_pages: int = 2000
    max_text_chars: int = 20_000_000
    sandbox: bool = True


# A parser: (file bytes, file name, limits) -> Parsed; pure, raises ParseError.
Parser = Callable[[bytes, str, ParseLimits], Parsed]
