"""What kind of file a document is: magic bytes first, the file name's extension second.

:func:`sniff` recognises a type from the content alone (a PDF named ``.docx`` is a PDF);
:func:`extension` normalises the name's extension (``.htm`` -> ``html``); :func:`looks_like_text`
tells text from binary for types that have no magic bytes (txt, md, csv...).
"""

from __future__ import annotations

import io
import zipfile

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Parts that identify an Office Open XML package.
_OOXML_MAIN_PARTS = {
    "word/document.xml": "docx",
    "ppt/presentation.xml": "pptx",
    "xl/workbook.xml": "xlsx",
}
# The ``mimetype`` entry of EPUB and OpenDocument packages.
_ZIP_MIMETYPES = {
    b"application/epub+zip": "epub",
    b"application/vnd.oasis.opendocument.text": "odt",
}

ALIASES = {
    "htm": "html",
    "xhtml": "html",
    "markdown": "md",
    "text": "txt",
    "log": "txt",
    "eml": "eml",
}

# Types that have magic bytes: a name alone never makes a file one of these.
MAGIC_TYPES = frozenset({"pdf", "docx", "pptx", "xlsx", "epub", "odt", "rtf"})
# Types with no magic bytes: their content must look like text.
TEXT_TYPES = frozenset({"txt", "md", "csv", "tsv", "json", "xml", "html", "rst", "org", "eml"})


def extension(name: str) -> str:
    """The lowercase extension of ``name`` with aliases resolved ("" when it has none)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem:
        return ""
    ext = ext.lower()
    return ALIASES.get(ext, ext)


def _zip_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            for part, kind in _OOXML_MAIN_PARTS.items():
                if part in names:
                    return kind
            if "mimetype" in names:
                with archive.open("mimetype") as entry:
                    return _ZIP_MIMETYPES.get(entry.read(100).strip())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return None
    return None


def _looks_like_html(head: bytes) -> bool:
    head = head.removeprefix(_BOMS[0]).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return True
    return head.startswith((b"<?xml", b"<!--")) and b"<html" in head


def sniff(data: bytes) -> str | None:
    """The type that the content itself declares, or None."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    if data.startswith(b"{\\rtf"):
        return "rtf"
    if data.startswith(_OLE2):
        return "ole2"  # legacy .doc/.xls/.ppt or Outlook .msg: the name decides
    if _looks_like_html(data[:1024]):
        return "html"
    return None


def looks_like_text(data: bytes) -> bool:
    """True when the first 8 KB read as text: UTF-16 with a BOM, or at most 1% control bytes
    (NUL included)."""
    head = data[:8192]
    if head.startswith(_BOMS[1:]):
        return True
    controls = sum(1 for byte in head if byte < 0x20 and byte not in b"\t\n\r\f\b\x1b")
    return controls <= max(1, len(head) // 100)
