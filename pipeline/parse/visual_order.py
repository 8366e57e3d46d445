"""Visual-order text (as a PDF lays RTL lines out, left to right as printed) back in logical
order, line by line: the inverse of the Unicode bidi algorithm's reordering, with brackets
mirrored back where the producer stored them mirrored (pipeline/parse/rtl.py decides when a
page needs it). Pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_RTL = re.compile(
    "[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\U00010800-\U00010fff\U0001e800-\U0001efff]"
)

MIRRORED = dict(zip("()[]{}<>«»‹›", ")(][}{><»«›‹", strict=True))

# Character kinds for reordering: strong right-to-left, strong left-to-right, digit, common
# separator (joins digits: "10:30", "1,500"), combining mark, and neutral (spaces, punctuation).
_R, _L, _D, _CS, _M, _N = "R", "L", "D", "CS", "M", "N"
_KINDS = {"R": _R, "AL": _R, "L": _L, "EN": _D, "AN": _D, "CS": _CS, "NSM": _M}


def has_rtl(text: str) -> bool:
    """Whether ``text`` holds any right-to-left letter (Hebrew, Arabic, Syriac, Thaana...)."""
    return _RTL.search(text) is not None


# --- reordering -------------------------------------------------------------------------------


def _kinds(line: str) -> list[str]:
    kinds = [_KINDS.get(unicodedata.bidirectional(char), _N) for char in line]
    for i, kind in enumerate(kinds):
        if kind == _CS:  # a separator between two digits is part of the number
            inside = 0 < i < len(kinds) - 1 and kinds[i - 1] == kinds[i + 1] == _D
            kinds[i] = _D if inside else _N
    for i, kind in enumerate(kinds):
        if kind == _M:  # a mark takes the direction of its letter
            kinds[i] = _mark_kind(kinds, i)
    return kinds


def _mark_kind(kinds: list[str], i: int) -> str:
    right = next((k for k in kinds[i + 1 :] if k != _M), _N)
    left = next((k for k in reversed(kinds[:i]) if k != _M), _N)
    if right == _R:  # visual order: an RTL letter's marks stand to its left
        return _R
    return left if left in (_L, _D) else _R


def _levels(kinds: list[str]) -> list[int]:
    """Bidi levels (1: right to left, 2: left to right) of a visual RTL line: a neutral run
    between Latin/digits stays with them when Latin letters precede it since the last RTL
    letter (the bidi algorithm's rules W7 and N1 as they appear in visual order)."""
    levels = [1 if kind == _R else 2 if kind in (_L, _D) else 0 for kind in kinds]
    latin_seen = False
    i = 0
    while i < len(kinds):
        kind = kinds[i]
        if kind != _N:
            latin_seen = (latin_seen or kind == _L) and kind != _R
            i += 1
            continue
        end = i
        while end < len(kinds) and kinds[end] == _N:
            end += 1
        between = i > 0 and end < len(kinds) and kinds[end] in (_L, _D)
        level = 2 if between and latin_seen and kinds[i - 1] in (_L, _D) else 1
        levels[i:end] = [level] * (end - i)
        i = end
    return levels


def _runs(line: str, levels: list[int]) -> Iterable[tuple[str, int]]:
    start = 0
    for i in range(1, len(line) + 1):
        if i == len(line) or levels[i] != levels[start]:
            yield line[start:i], levels[start]
            start = i


def _rtl_to_logical(line: str, kinds: list[str], mirror: bool) -> str:
    """An RTL line (or stretch) from visual to logical order."""
    out = []
    for run, level in reversed(list(_runs(line, _levels(kinds)))):
        if level == 2:
            out.append(run)
        elif mirror:
            out.append("".join(MIRRORED.get(char, char) for char in reversed(run)))
        else:
            out.append(run[::-1])
    return "".join(out)


def _ltr_to_logical(line: str, kinds: list[str], mirror: bool) -> str:
    """An LTR line from visual to logical order: only its stretches without Latin letters
    between two RTL letters are turned around."""
    out = []
    i = 0
    while i < len(line):
        if kinds[i] != _R:
            out.append(line[i])
            i += 1
            continue
        end = i
        for j in range(i, len(line)):
            if kinds[j] == _L:
                break
            if kinds[j] == _R:
                end = j + 1
        out.append(_rtl_to_logical(line[i:end], kinds[i:end], mirror))
        i = end
    return "".join(out)


def _is_rtl(kinds: list[str], page_rtl: bool) -> bool:
    """A visual line is right to left when its leftmost and rightmost letters are RTL (its
    logical start is at the right), left to right when both are Latin; else as the page."""
    strong = [kind for kind in kinds if kind in (_R, _L)]
    if strong[0] == strong[-1]:
        return strong[0] == _R
    return page_rtl


def _bracket_balance(text: str) -> int:
    """Brackets closed in order minus brackets left unpaired or closed before they open."""
    score = 0
    stack: list[str] = []
    for char in text:
        if char in "([{<«‹":
            stack.append(MIRRORED[char])
        elif char in ")]}>»›":
            matched = bool(stack) and stack[-1] == char
            score += 1 if matched else -1
            if matched:
                stack.pop()
    return score - len(stack)


def visual_to_logical(text: str) -> str:
    """Each line of visual-order text in logical order (lines without RTL letters are kept).

    Brackets inside RTL runs are mirrored back when that pairs them better: producers that
    shape with python-bidi's ``bidi.algorithm`` store mirrored brackets, LibreOffice stores the
    logical ones and mirrors the glyphs."""
    lines: list[tuple[str, list[str] | None]] = [
        (line, _kinds(line) if has_rtl(line) else None) for line in text.split("\n")
    ]
    counts = [kind for _, kinds in lines for kind in kinds or ()]
    page_rtl = counts.count(_R) >= counts.count(_L)

    def reorder(mirror: bool) -> str:
        out = []
        for line, kinds in lines:
            if kinds is None:
                out.append(line)
            elif _is_rtl(kinds, page_rtl):
                out.append(_rtl_to_logical(line, kinds, mirror))
            else:
                out.append(_ltr_to_logical(line, kinds, mirror))
        return "\n".join(out)

    plain = reorder(mirror=False)
    if not any(char in MIRRORED for char in plain):
        return plain
    mirrored = reorder(mirror=True)
    return mirrored if _bracket_balance(mirrored) > _bracket_balance(plain) else plain
