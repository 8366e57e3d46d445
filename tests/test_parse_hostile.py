"""Hostile documents (reliability plan §6.1): each one ends in a clear ParseError or a bounded
parse, never a hang, a crash of the caller, a network fetch or raw markup in the output.

Every hostile file is built here, from bytes, so the attack is readable in the test.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile

import pytest
from pypdf import PdfWriter

from core.errors import ParseError
from core.types import Document, Parsed
from pipeline.parse import parse_document
from pipeline.parse.registry import ParseLimits
from tests.test_parse import make_docx, make_pdf

IN_PROCESS = ParseLimits(sandbox=False)
SANDBOX = ParseLimits(max_seconds=10)


def parse(data: bytes, name: str, limits: ParseLimits = IN_PROCESS) -> Parsed:
    return parse_document(Document(data=data, name=name), limits=limits)


def parse_error(data: bytes, name: str, limits: ParseLimits = IN_PROCESS) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(data, name, limits)
    return caught.value


# --- PDF ------------------------------------------------------------------------------------


def encrypted_pdf(user_password: str, owner_password: str = "owner") -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf([["Top secret plan."]])))
    writer.encrypt(user_password=user_password, owner_password=owner_password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_pdf_with_a_user_password_is_password_protected():
    error = parse_error(encrypted_pdf("secret"), "locked.pdf")

    assert error.code == "password_protected"
    assert error.message == "locked.pdf is password protected; upload an unprotected copy"


def test_pdf_encrypted_with_an_empty_user_password_opens():
    parsed = parse(encrypted_pdf(""), "restricted.pdf")

    assert parsed.sections[0].text == "Top secret plan."


@pytest.mark.parametrize("keep", [400, 0.5, -30])
def test_truncated_pdf_is_unparseable(keep):
    data = make_pdf([["Page one"], ["Page two"]])
    cut = data[: int(len(data) * keep)] if isinstance(keep, float) else data[:keep]

    error = parse_error(cut, "cut.pdf")

    assert error.code == "unparseable_pdf"
    assert "truncated or damaged" in error.message


def pdf_with_cyclic_xref() -> bytes:
    """A one-page PDF whose two xref sections name each other as /Prev (CVE-2026-27628)."""
    content = b"BT /F1 12 Tf 72 720 Td (Hello from a loop) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    first = len(out)
    second = first + 200  # where the second section will start, padded below
    out += b"xref\n0 6\n0000000000 65535 f \n" + table
    out += b"trailer\n<< /Size 6 /Root 1 0 R /Prev %d >>\n" % second
    out += b" " * (second - len(out))
    out += b"xref\n0 1\n0000000000 65535 f \n"
    out += b"trailer\n<< /Size 6 /Root 1 0 R /Prev %d >>\n" % first
    out += b"startxref\n%d\n%%%%EOF\n" % second
    return bytes(out)


def test_pdf_with_cyclic_xref_prev_finishes_in_the_sandbox():
    started = time.monotonic()
    try:
        parsed = parse(pdf_with_cyclic_xref(), "loop.pdf", SANDBOX)
    except ParseError as e:
        assert e.code == "unparseable_pdf"
    else:
        assert parsed.sections[0].text == "Hello from a loop"
    assert time.monotonic() - started < 10


# --- DOCX -----------------------------------------------------------------------------------


def zip_with(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def declare_size(archive: bytes, member: str, size: int, compressed: int | None = None) -> bytes:
    """Rewrite the central directory so ``member`` claims ``size`` bytes uncompressed (and
    ``compressed`` bytes compressed)."""
    data = bytearray(archive)
    for match in re.finditer(rb"PK\x01\x02", data):
        at = match.start()
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
            if compressed is not None:
                struct.pack_into("<I", data, at + 20, compressed)
    return bytes(data)


def minimal_docx(document_xml: bytes = b"<w:document/>") -> dict[str, bytes]:
    return {"[Content_Types].xml": b"<Types/>", "word/document.xml": document_xml}


def test_docx_declaring_a_huge_part_is_rejected_before_inflating():
    bomb = declare_size(zip_with(minimal_docx()), "word/document.xml", 1 << 30)

    error = parse_error(bomb, "bomb.docx")

    assert error.code == "archive_rejected"
    assert "word/document.xml" in error.message and "1024 MB" in error.message


def test_docx_with_an_extreme_compression_ratio_is_rejected():
    bomb = zip_with(minimal_docx(b"<w:document>" + b"\x00" * (16 << 20)))

    error = parse_error(bomb, "ratio.docx")

    assert error.code == "archive_rejected"
    assert "compresses" in error.message


def test_docx_whose_parts_add_up_too_big_is_rejected():
    parts = {f"word/media/part{i}.bin": b"x" for i in range(5)}
    archive = zip_with({**minimal_docx(), **parts})
    for name in parts:
        archive = declare_size(archive, name, 120 << 20, compressed=60 << 20)

    error = parse_error(archive, "many-big.docx")

    assert error.code == "archive_rejected"
    assert "512 MB in all" in error.message


def test_docx_with_too_many_entries_is_rejected():
    entries = {**minimal_docx(), **{f"customXml/item{i}.xml": b"" for i in range(10_001)}}

    error = parse_error(zip_with(entries), "crowded.docx")

    assert error.code == "archive_rejected"
    assert "entries" in error.message


def test_docx_with_an_external_entity_doctype_is_refused_and_nothing_is_read():
    with zipfile.ZipFile(io.BytesIO(make_docx())) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    xml = parts["word/document.xml"]
    doctype = (
        b'<!DOCTYPE w:document [<!ENTITY e SYSTEM "file:///etc/hostname">'
        b'<!ENTITY c SYSTEM "http://127.0.0.1:9/canary">]>'
    )
    declaration_end = xml.index(b"?>") + 2
    parts["word/document.xml"] = xml[:declaration_end] + doctype + xml[declaration_end:]
    parts["word/document.xml"] = parts["word/document.xml"].replace(b"Keep the receipt.", b"&e;&c;")

    error = parse_error(zip_with(parts), "xxe.docx")

    assert error.code == "doctype_forbidden"
    assert "word/document.xml" in error.message


def test_corrupt_docx_is_unparseable():
    error = parse_error(zip_with(minimal_docx(b"<w:document><unclosed>")), "broken.docx")

    assert error.code == "unparseable_docx"


# --- HTML -----------------------------------------------------------------------------------


def test_html_nested_100000_deep_gives_its_text_not_markup():
    parsed = parse(b"<div>" * 100_000 + b"x", "deep.html")

    assert [s.text for s in parsed.sections] == ["x"]


def test_html_that_is_only_chrome_has_no_text():
    error = parse_error(b"<html><body><nav>Home</nav><script>x()</script></body></html>", "n.html")

    assert error.code == "no_text"


# --- Sandbox limits -------------------------------------------------------------------------

SLOW_HTML = b"<html><body>" + b"<p>Some paragraph text here.</p>" * 100_000 + b"</body></html>"


def test_parse_over_the_time_limit_is_killed_and_the_caller_carries_on():
    started = time.monotonic()

    error = parse_error(SLOW_HTML, "slow.html", ParseLimits(max_seconds=0.5))

    assert error.code == "resource_limit"
    assert "exceeded the parse limit of 0.5 s" in error.message
    assert time.monotonic() - started < 3
    assert parse(b"still alive", "next.txt", SANDBOX).sections[0].text == "still alive"


def test_parse_over_the_memory_limit_is_a_resource_limit():
    error = parse_error(SLOW_HTML, "big.html", ParseLimits(max_memory_bytes=64 << 20))

    assert error.code == "resource_limit"
    assert "MB" in error.message


def test_docx_with_overlapping_entries_is_rejected_before_inflating():
    """The "quoted-overlap" zip bomb (CVE-2024-0450): two entries share compressed data.
    Python 3.11.7's zipfile does not catch it, so our central-directory check must."""
    import struct

    data = bytearray(make_docx())
    first = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", first + 4)
    struct.pack_into("<I", data, second + 42, 0)  # the 2nd entry points at the 1st one's data

    error = parse_error(bytes(data), "overlap.docx")

    assert error.code == "archive_rejected"
    assert "overlaps" in error.message
