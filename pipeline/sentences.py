"""Sentences of a passage (pure). The extractive answer quotes them (retrieval/answer.py), and a
model that ranks by sentence (the multilingual one, ``search_sentence_weight``) embeds each
sentence of a chunk beside the chunk itself: a question usually matches one sentence of a
paragraph, and across languages a paragraph's vector blurs it (docs/retrieval.md)."""

from __future__ import annotations

import re

from pipeline.chunk import reflow

# A sentence ends at . ! ? before a capital, a digit, a quote or an Arabic letter (Arabic has
# no capitals; an Arabic one-letter abbreviation like "د." does not end one), and always at
# the Arabic question mark ؟, semicolon ؛ and full stop ۔. The Arabic comma ، and decimal
# separator ٫ (١٫٥) never end one.
_SENTENCE = re.compile(
    r"(?<!\b[\u0621-\u064a]\.)(?<=[.!?])\s+"
    r"(?=[A-Z0-9$\"'(«\u0621-\u064a\u0660-\u0669\u066e-\u06d3\u06f0-\u06ff\u0750-\u077f\u08a0-\u08ff])"
    r"|(?<=[\u061b\u061f\u06d4])\s+|\n+"
)
MIN_CHARS = 20  # shorter pieces (a heading's number, "See also.") are not sentences
MAX_EMBEDDED = 32  # sentences embedded per chunk, at most (a list of 200 one-liners: the first)


def sentences(text: str) -> list[str]:
    """Sentences of a passage; line breaks inside a sentence (PDF layout) are joined."""
    text = reflow(text)
    return [" ".join(s.split()) for s in _SENTENCE.split(text) if len(s.strip()) > MIN_CHARS]


def embedded_sentences(text: str) -> list[str]:
    """The sentences of a chunk that get vectors of their own: none when the chunk is one
    sentence (its own vector says it all), else its first :data:`MAX_EMBEDDED`."""
    found = sentences(text)
    return found[:MAX_EMBEDDED] if len(found) > 1 else []
