"""The language a customer writes in, told by its script (pure functions, no I/O).

Customers write in Arabic or English. A message is cut into words (runs of letters and
combining marks); URLs and e-mail addresses are dropped, digits and punctuation are not words.
Each word counts for the script most of its letters belong to. Arabic speakers often write a
few Latin words (brand and product names: "iPhone", "Apple Pay") inside an Arabic sentence,
while an English sentence rarely holds Arabic words, so an Arabic word weighs twice: the
message is Arabic when its Arabic words are at least half as many as its Latin ones.

The answer is a code, "ar" or "en", or None for a message with neither script (digits, emoji,
another script). Persian and Urdu share the Arabic script and read as "ar"; every Latin-script
language reads as "en" (:func:`tells_apart` says whether that is enough for a chatbot).
"""

from __future__ import annotations

import re
import unicodedata

ARABIC = "ar"
ENGLISH = "en"
NAMES = {ARABIC: "Arabic", ENGLISH: "English"}

# Arabic, Arabic Supplement, Arabic Extended-A, Presentation Forms-A and -B
_ARABIC_BLOCKS = (
    (0x0600, 0x06FF),
    (0x0750, 0x077F),
    (0x08A0, 0x08FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
)
_LINK = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)


def is_arabic(ch: str) -> bool:
    """Whether ``ch`` is a letter of the Arabic script (not its digits or punctuation)."""
    point = ord(ch)
    return unicodedata.category(ch)[0] == "L" and any(a <= point <= b for a, b in _ARABIC_BLOCKS)


def is_latin(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "L" and unicodedata.name(ch, "").startswith("LATIN ")


def words(text: str) -> list[str]:
    """Runs of letters and combining marks (Arabic vowel signs stay inside their word)."""
    found, word = [], []
    for ch in _LINK.sub(" ", text):
        if unicodedata.category(ch)[0] in "LM":
            word.append(ch)
        elif word:
            found.append("".join(word))
            word = []
    if word:
        found.append("".join(word))
    return found


def detect(text: str) -> str | None:
    """ "ar" or "en", by the script of the message's words; None when it has neither."""
    arabic = latin = 0
    for word in words(text):
        a = sum(map(is_arabic, word))
        b = sum(map(is_latin, word))
        arabic += a > b
        latin += b > a
    if not arabic and not latin:
        return None
    return ARABIC if 2 * arabic >= latin else ENGLISH


def language_name(code: str | None) -> str | None:
    """The language's English name, as a prompt says it ("Arabic"), or None."""
    return NAMES.get(code) if code else None


def tells_apart(default: str | None) -> bool:
    """Whether the script alone tells the language for a chatbot whose default language is
    ``default``: yes for an Arabic, English or bilingual chatbot ("multi", "Arabic and
    English") or one with none; a French chatbot's customers write Latin script too, and that
    is no sign of English."""
    said = set((default or "").lower().replace(",", " ").split()) - {"and"}
    return said <= {ARABIC, ENGLISH, "arabic", "english", "multi"}


_MARKS = re.compile("[\u064b-\u065f\u0670\u0640\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FOLD = str.maketrans("أإآٱىة٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "اااايه01234567890123456789")


def fold(text: str) -> str:
    """The normalisation text search applies (``intaj_fold`` in db/migrations/0007_languages.sql),
    after NFKC: Arabic diacritics, tatweel and bidi marks removed; alef variants, alef maqsura
    and ta marbuta folded; Arabic-Indic digits as ASCII. Latin text is unchanged."""
    return _MARKS.sub("", unicodedata.normalize("NFKC", text)).translate(_FOLD)
