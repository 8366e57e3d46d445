"""Right-to-left text (Arabic, Hebrew) as searchable text in logical order.

Word processors and web pages store RTL text in logical (reading) order, but PDFs store glyphs
where they are drawn. :mod:`pipeline.parse.pdf` lays a page out by glyph position, which gives
every line in visual order (left to right, as printed) whatever the producer wrote, and
:func:`logical_text` turns that back into logical text:

- :func:`order_evidence` checks the order from the text itself: Arabic presentation forms
  whose initial/final shapes sit at the wrong end of their words, or letters that only end a
  word (ة, ى, Hebrew final letters) found at the start of words and the article "ال" found at
  their end. Text already in logical order (pypdf's plain extraction, which reverses RTL runs
  itself, or an unusual producer) is left in its order.
- ``visual_to_logical`` (:mod:`pipeline.parse.visual_order`) inverts the Unicode bidi
  algorithm's reordering line by line: an RTL line is read right to left, while its runs of
  Latin letters and digits keep their own left-to-right order ("Northwind Bikes", "10:30");
  in an LTR line only the RTL stretches are turned around. Brackets are mirrored back where
  the producer stored them mirrored.
- presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFC, as arabic-reshaper and many Arabic PDF
  producers write them) become base letters by NFKC, lam-alef ligatures included, after the
  reordering (a ligature is one glyph but two letters).
- a combining mark split from its letter by an inserted space is joined back ("شكرً ا"), and
  words whose letters a ligature glyph put out of order are spelled as pypdf's plain mode
  spells them (:func:`respell`).

:func:`strip_bidi_controls` removes invisible direction marks (LRM, RLM, ALM, embeddings,
overrides and isolates) that Word and web pages leave around Latin words; the shared text
cleaners in :mod:`pipeline.parse.sections` call it for every format. All functions are pure.
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.parse.visual_order import has_rtl, visual_to_logical

BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_PRESENTATION_FORM = re.compile("[\ufb50-\ufdff\ufe70-\ufefc]")
_MARK_AFTER_SPACE = re.compile(r"[ \t]+(?=[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed])")
# A lone alef after a vowel mark is the seat of the word's tanween ("شكرًا"), split off by a
# space where the mark's glyph was placed apart.
_LONE_ALEF = re.compile(r"(?<=[\u064b-\u0652])[ \t]+(\u0627)(?![\u0620-\u065f\u0670])")
# Letters and marks of RTL words (Hebrew, Arabic and its supplements; no digits or punctuation).
_RTL_WORD = re.compile(
    "[\u0591-\u05c7\u05d0-\u05ea\u0610-\u061a\u0620-\u065f\u066e-\u06d3\u06d5-\u06ed"
    "\u06ee-\u06ff\u0750-\u077f\u08a0-\u08ff]+"
)
_ARABIC_WORD = re.compile("[\u0620-\u064a\u0671-\u06d3\ufb50-\ufdff\ufe70-\ufefc]+")
_HEBREW_WORD = re.compile("[\u05d0-\u05ea]{2,}")
_HEBREW_FINALS = "ךםןףץ"
_WORD_END_LETTERS = "ةى"  # taa marbuta and alef maksura end words in logical order


def strip_bidi_controls(text: str) -> str:
    """``text`` without invisible direction marks and bidi embedding/override/isolate codes."""
    return BIDI_CONTROLS.sub("", text)


def logical_text(text: str, *, by_position: bool, spelling: str = "") -> str:
    """PDF page text with RTL lines in logical order and Arabic presentation forms folded to
    letters; text without RTL letters is returned unchanged.

    ``by_position``: the text was laid out by glyph position (pypdf's layout mode), so its lines
    are in visual order unless its words say otherwise; else (pypdf's plain mode, which
    reverses RTL runs itself) it is reordered only when its words read backwards.
    ``spelling``: the same page in pypdf's plain mode, whose RTL words are spelled right (see
    :func:`respell`)."""
    if not has_rtl(text):
        return text
    visual, logical = order_evidence(text)
    if visual > logical or (by_position and visual == logical):
        text = visual_to_logical(text)
    text = fold_presentation_forms(text)
    text = _LONE_ALEF.sub(r"\1", _MARK_AFTER_SPACE.sub("", text))
    return respell(text, fold_presentation_forms(spelling)) if spelling else text


def respell(text: str, spelling: str) -> str:
    """Words of ``text`` absent from ``spelling`` but made of the same letters as exactly one
    word there, spelled as there.

    A glyph that stands for several letters (the lam-alef ligature of most Arabic fonts, "ﷲ")
    maps to them in reading order, and text laid out by position cannot tell its letters from
    those of neighbouring glyphs: turned around with the line, "دولارات" comes out "دوالرات".
    pypdf's plain mode reverses RTL runs glyph by glyph and spells those words right, though
    it misplaces digits, Latin words and punctuation between them."""
    known = set(_RTL_WORD.findall(spelling))
    by_letters: dict[str, set[str]] = {}
    for word in known:
        by_letters.setdefault("".join(sorted(word)), set()).add(word)

    def fix(match: re.Match[str]) -> str:
        word = match[0]
        if word in known:
            return word
        same_letters = by_letters.get("".join(sorted(word)), set())
        return next(iter(same_letters)) if len(same_letters) == 1 else word

    return _RTL_WORD.sub(fix, text)


def fold_presentation_forms(text: str) -> str:
    """Arabic presentation forms (contextual shapes, ligatures) as the letters they show."""
    return _PRESENTATION_FORM.sub(lambda m: _fold(m[0]), text)


def _fold(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char)
    # Isolated harakat (U+FE70-U+FE7F, U+FC5E-U+FC63) decompose to a space and the mark.
    if len(folded) > 1 and folded[0] == " " and unicodedata.combining(folded[1]):
        return folded[1:]
    return folded


# --- which order ------------------------------------------------------------------------------


def _form(char: str) -> str:
    decomposition = unicodedata.decomposition(char)
    return decomposition.split(" ", 1)[0] if decomposition.startswith("<") else ""


def _word_evidence(word: str) -> tuple[int, int]:
    """(visual, logical) evidence from one Arabic word as it stands in the text."""
    visual = logical = 0
    first, last = _form(word[0]), _form(word[-1])
    visual += (first in ("<final>", "<medial>")) + (last in ("<initial>", "<medial>"))
    logical += (first == "<initial>") + (last == "<final>")
    letters = fold_presentation_forms(word)
    if len(letters) >= 3:
        visual += letters[0] in _WORD_END_LETTERS
        logical += letters[-1] in _WORD_END_LETTERS
    if len(letters) >= 4:
        visual += letters.endswith("لا")
        logical += letters.startswith("ال")
    return visual, logical


def order_evidence(text: str) -> tuple[int, int]:
    """How many signs say the RTL words of ``text`` read backwards (visual order), and how many
    say they are in reading order: shapes and letters at the wrong or right end of words."""
    visual = logical = 0
    for word in _ARABIC_WORD.findall(text):
        v, lg = _word_evidence(word)
        visual, logical = visual + v, logical + lg
    for word in _HEBREW_WORD.findall(text):
        visual += word[0] in _HEBREW_FINALS
        logical += word[-1] in _HEBREW_FINALS
    return visual, logical


def looks_visual(text: str) -> bool:
    """Whether the RTL words of ``text`` read backwards: more signs of visual order than of
    logical order (see :func:`order_evidence`)."""
    visual, logical = order_evidence(text)
    return visual > logical
