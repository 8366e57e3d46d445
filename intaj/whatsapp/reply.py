"""A reply as WhatsApp shows it (pure): the answer in WhatsApp's formatting, its citations as
plain text, and parts of at most 4,096 characters.

WhatsApp renders ``*bold*``, ``_italic_``, ``~strike~`` and code, never markdown links or
images; what the answer holds of those is rewritten (``**x**`` -> ``*x*``, ``# Title`` ->
``*Title*``, ``[text](url)`` -> ``text (url)``). Links survive only to the chatbot's allowed
hosts (retrieval/output.py has already removed the rest); a web source on another host is named
by its title, never its URL, since WhatsApp turns any URL into a link. No bidi control
reaches the chat (retrieval/bidi.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from core.ids import is_url
from core.types import Answer, Citation
from retrieval.bidi import strip_bidi
from retrieval.language import ARABIC, detect
from retrieval.output import clean, host_allowed

MAX_CHARS = 4096  # the Cloud API's limit on a text message's body
NOT_TEXT = {
    "en": "Sorry, I can only read text messages. Please type your question.",
    ARABIC: "عذرًا، أستطيع قراءة الرسائل النصية فقط. يُرجى كتابة سؤالك.",
}
_LABELS = {"en": ("Sources", "p."), ARABIC: ("المصادر", "ص")}
_MARK = "\x02"  # stands for WhatsApp's bold marker while single-star italics are rewritten
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_CUTS = ("\n\n", "\n", ". ", "? ", "! ", "؟ ", "، ", " ")


def source_name(path: str) -> str:
    """What a person calls a cited source, as the playground names it (intaj/http/owner.py,
    not imported: the worker must not load the HTTP package): a URL as it is, "FAQ", else the
    file name that ends a stored path."""
    if is_url(path):
        return strip_bidi(path)
    if path.startswith("faq:"):
        return "FAQ"
    return strip_bidi(path.rstrip("/").rsplit("/", 1)[-1])


def language_of(text: str, chatbot_language: str) -> str:
    """``ar`` when the text is Arabic (or, with no letters to tell, the chatbot is), else
    ``en``."""
    found = detect(text)
    if found is None:
        return ARABIC if chatbot_language == ARABIC else "en"
    return ARABIC if found == ARABIC else "en"


def whatsapp_format(text: str) -> str:
    """Markdown as WhatsApp formats it."""

    def link(m: re.Match[str]) -> str:
        label, url = m[1].strip(), m[2]
        return url if not label or label == url else f"{label} ({url})"

    text = _LINK.sub(link, text)
    text = _HEADING.sub(lambda m: f"{_MARK}{m[1]}{_MARK}", text)
    text = _BULLET.sub(lambda m: f"{m[1]}- ", text)
    text = _BOLD.sub(lambda m: f"{_MARK}{m[1] or m[2]}{_MARK}", text)
    text = _ITALIC.sub(lambda m: f"_{m[1]}_", text)
    text = _STRIKE.sub(lambda m: f"~{m[1]}~", text)
    return text.replace(_MARK, "*")


def citation_line(citation: Citation, allow_hosts: Iterable[str], page_label: str) -> str:
    """``[n] name, p. 3``: a file by its name, a web page by its URL on an allowed host, else
    by its title."""
    meta = citation.metadata
    url = meta.get("url") if isinstance(meta.get("url"), str) else None
    name = source_name(url or citation.source)
    if url or name.lower().startswith(("http://", "https://")):
        title = meta.get("title") if isinstance(meta.get("title"), str) else None
        if not host_allowed(name, allow_hosts):
            name = strip_bidi(title) if title else "web page"
    line = f"[{citation.number}] {name}"
    page = meta.get("page")
    if isinstance(page, int) and not isinstance(page, bool):
        line += f", {page_label} {page}"
    return line


def reply_text(answer: Answer, *, allow_hosts: Sequence[str], chatbot_language: str) -> str:
    """The whole reply: the answer, then its sources, one a line."""
    numbers = [c.number for c in answer.citations]
    body = clean(answer.answer, allow_hosts=allow_hosts, passages=max(numbers, default=0))
    text = whatsapp_format(body).strip()
    if answer.citations:
        title, page = _LABELS[language_of(answer.answer, chatbot_language)]
        lines = [citation_line(c, allow_hosts, page) for c in answer.citations]
        text += f"\n\n*{title}:*\n" + "\n".join(lines)
    return strip_bidi(text)


def not_text_reply(chatbot_language: str) -> str:
    return NOT_TEXT[ARABIC if chatbot_language == ARABIC else "en"]


def split(text: str, limit: int = MAX_CHARS) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut between paragraphs, else lines,
    sentences or words (mid-word only when a word is longer than half a part)."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = next(
            (at + len(sep) for sep in _CUTS if (at := window.rfind(sep)) > limit // 2), limit
        )
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest] if rest else parts
