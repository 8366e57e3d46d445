"""More hostile documents (reliability-test-plan §6.1 P2, P3, P5, P6, D2, D4, D5, H2 and §6.3
S2): each one ends in a clear ParseError or a bounded parse to text, inside the sandbox's
limits, and the caller's own memory stays flat.

Every file is built here from bytes, so each attack reads next to its assertion. No test
asserts a duration: the sandbox's limits are what bound each parse, and the tests check the
outcome those limits produce.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from core.errors import ParseError, SourceError
from core.types import Document, Parsed
from pipeline.parse import parse_document
from pipeline.parse.registry import PARSERS, ParseLimits
from pipeline.sources.http import fetch_url
from tests.servers.site import Site, running_site
from tests.test_parse import make_docx
from tests.test_parse_hostile import zip_with
from tests.test_sources_http import settings_for

MB = 1024 * 1024
IN_PROCESS = ParseLimits(sandbox=False)
SANDBOX = ParseLimits(max_seconds=30, max_memory_bytes=1024 * MB)


def parse(data: bytes, name: str, limits: ParseLimits = SANDBOX) -> Parsed:
    return parse_document(Document(data=data, name=name), limits=limits)


def outcome(data: bytes, name: str, limits: ParseLimits = SANDBOX) -> str:
    """``"text:<first section>"`` or ``"error:<code>"``."""
    try:
        parsed = parse(data, name, limits)
    except ParseError as e:
        return f"error:{e.code}"
    return "text:" + parsed.sections[0].text


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


# --- PDF building blocks --------------------------------------------------------------------

TEXT = b"BT /F1 12 Tf 72 720 Td (Plain page text) Tj ET"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def pdf(objects: list[bytes], trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A PDF of ``objects`` (numbered from 1) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\n" % (len(objects) + 1, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), entries, data)


def one_page(
    content: bytes, resources: bytes = b"", catalog: bytes = b"", extra: tuple[bytes, ...] = ()
) -> bytes:
    """Objects 1-5: catalog, pages, page, its content (object 4), Helvetica; then ``extra``
    (numbered from 6)."""
    return pdf([
        b"<< /Type /Catalog /Pages 2 0 R %s >>" % catalog,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> %s >> >>" % resources,
        content,
        FONT,
        *extra,
    ])  # fmt: skip


def flate_bomb(prefix: bytes, blocks: int = 129) -> bytes:
    """A valid zlib stream of ``prefix`` and then ``blocks`` x 16 MB of zeros (over 2 GB by
    default, about 2 MB compressed). Streamed with ``zlib.compressobj``: one block of zeros is
    compressed once and, after a full flush, repeated byte for byte."""
    block, count = 16 * MB, blocks
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = deflate.compress(bytes(block)) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush()
    check = zlib.adler32(prefix)  # zeros leave adler's low half alone and add n*a to its high
    low, high = check & 0xFFFF, check >> 16
    check = ((high + low * block * count) % 65521) << 16 | low
    return b"\x78\xda" + head + body * count + tail + check.to_bytes(4, "big")


def test_the_flate_bomb_really_inflates_past_2_gb() -> None:
    bomb = flate_bomb(b"x")
    inflater, total, rest = zlib.decompressobj(), 0, bomb[: 64 * 1024]
    total += len(inflater.decompress(rest, 64 * MB))
    assert len(bomb) < 3 * MB and total == 64 * MB  # the first 64 KB alone give 64 MB
    assert zlib.decompress(flate_bomb(b"abc", 3)) == b"abc" + bytes(48 * MB)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return flate_bomb(TEXT + b"\n")


XMP_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + b"ha" * 50 + b'">'
    + b"".join(b'<!ENTITY %c "%s">' % (ord("b") + i, b"&%c;" % (ord("a") + i) * 10)
               for i in range(9))
    + b']><x:xmpmeta xmlns:x="adobe:ns:meta/">&j;</x:xmpmeta>'
)  # fmt: skip

P2_BOMBS: dict[str, Callable[[bytes], bytes]] = {
    # the page's own content stream inflates to 2 GB
    "content": lambda b: one_page(stream(b, b"/Filter /FlateDecode")),
    # a form XObject drawn by the page does (pypdf skips it; the page's own text remains)
    "xobject": lambda b: one_page(
        stream(TEXT + b"\n/X0 Do"), b"/XObject << /X0 6 0 R >>",
        extra=(stream(b, b"/Type /XObject /Subtype /Form /BBox [0 0 9 9] /Filter /FlateDecode"),),
    ),
    # the font's /ToUnicode CMap does (read by text extraction)
    "tounicode": lambda b: pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        stream(TEXT),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        stream(b, b"/Filter /FlateDecode"),
    ]),
}  # fmt: skip


@pytest.mark.parametrize("where", sorted(P2_BOMBS))
def test_p2_flate_bomb_ends_in_a_resource_limit_or_text_and_the_caller_stays_small(
    bomb: bytes, where: str
) -> None:
    data = P2_BOMBS[where](bomb)
    before = rss()

    result = outcome(data, f"{where}-bomb.pdf")

    assert result in ("error:resource_limit", "text:Plain page text"), result
    if where != "xobject":  # a bomb on the text path itself is the document's error
        assert result == "error:resource_limit"
    assert rss() - before < 64 * MB  # the 2 GB never reach this process


def test_p2_the_error_names_the_bomb(bomb: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(P2_BOMBS["content"](bomb), "bomb.pdf")
    assert info.value.code == "resource_limit"
    assert "bomb.pdf holds a stream that inflates past pypdf's safety limit" in info.value.message


def test_p2_the_library_limit_trips_before_our_memory_limit(bomb: bytes) -> None:
    """With 512 MB of address space the child still ends on pypdf's 75 MB stream limit (the
    specific error), not on running out of memory."""
    limits = ParseLimits(max_seconds=30, max_memory_bytes=512 * MB)
    error = outcome(P2_BOMBS["content"](bomb), "bomb.pdf", limits)
    assert error == "error:resource_limit"


P2_SAFE = {
    # a declared /Length of 9,999,999,999 bytes on a 47-byte stream
    "declared-length": one_page(
        b"<< /Length 9999999999 >>\nstream\n" + TEXT + b"\nendstream"
    ),
    # a 100,000 x 100,000 RGB image (30 GB decoded) drawn on a page with text
    "image-dims": one_page(
        stream(b"q 612 0 0 792 0 0 cm /Im0 Do Q\n" + TEXT),
        b"/XObject << /Im0 6 0 R >>",
        extra=(
            stream(
                zlib.compress(bytes(3 * 1000)),
                b"/Type /XObject /Subtype /Image /Width 100000 /Height 100000"
                b" /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode",
            ),
        ),
    ),
    # XMP metadata with a billion-laughs entity tree
    "xmp-laughs": one_page(
        stream(TEXT), catalog=b"/Metadata 6 0 R",
        extra=(stream(XMP_LAUGHS, b"/Type /Metadata /Subtype /XML"),),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(P2_SAFE))
def test_p2_declared_sizes_are_never_allocated(case: str) -> None:
    result = outcome(P2_SAFE[case], f"{case}.pdf")
    assert result in ("text:Plain page text", "error:unparseable_pdf", "error:resource_limit")


# --- P3: slow paths ---------------------------------------------------------------------------


def startxref_after_whitespace(megabytes: int) -> bytes:
    good = one_page(stream(TEXT))
    return good[: good.index(b"xref\n")] + b" " * (megabytes * MB) + b"startxref\n9999999999\n"


def missing_root() -> bytes:
    return one_page(stream(TEXT)).replace(b"/Root 1 0 R", b"/Size 1000000000")


def page_labels(ranges: int) -> bytes:
    nums = b" ".join(b"%d << /S /D /St %d >>" % (i, i + 7) for i in range(ranges))
    return one_page(stream(TEXT), catalog=b"/PageLabels << /Nums [" + nums + b"] >>")


def nested_outline(depth: int) -> bytes:
    items = [b"<< /Type /Outlines /First 7 0 R /Count 1 >>"]
    for i in range(depth):
        number = 7 + i
        child = b" /First %d 0 R /Count 1" % (number + 1) if i < depth - 1 else b""
        items.append(b"<< /Title (Item %d) /Parent %d 0 R /Dest [3 0 R /Fit]%s >>"
                     % (i, number - 1, child))  # fmt: skip
    return one_page(stream(TEXT), catalog=b"/Outlines 6 0 R", extra=tuple(items))


def many_xforms(count: int) -> bytes:
    names = b" ".join(b"/X%d %d 0 R" % (i, 6 + i) for i in range(count))
    content = TEXT + b"\n" + b"\n".join(b"/X%d Do" % i for i in range(count))
    form = stream(
        b"BT /F1 9 Tf 10 10 Td (f) Tj ET",
        b"/Type /XObject /Subtype /Form /BBox [0 0 9 9] /Resources << /Font << /F1 5 0 R >> >>",
    )
    return one_page(stream(content), b"/XObject << " + names + b" >>", extra=(form,) * count)


P3_CASES: dict[str, Callable[[], bytes]] = {
    "startxref-8mb-whitespace": lambda: startxref_after_whitespace(8),
    "no-root-size-1e9": missing_root,
    "5000-page-label-ranges": lambda: page_labels(5000),
    "10000-nested-outline-items": lambda: nested_outline(10_000),
    "1000-xforms": lambda: many_xforms(1000),
}
P3_SLOW: dict[str, Callable[[], bytes]] = {
    "startxref-50mb-whitespace": lambda: startxref_after_whitespace(50),
    "10000-xforms": lambda: many_xforms(10_000),
}
P3_OUTCOMES = ("error:unparseable_pdf", "error:resource_limit")


@pytest.mark.parametrize("case", sorted(P3_CASES))
def test_p3_slow_paths_end_in_text_or_a_clear_error(case: str) -> None:
    result = outcome(P3_CASES[case](), f"{case}.pdf")
    assert result.startswith("text:Plain page text") or result in P3_OUTCOMES, result


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(P3_SLOW))
def test_p3_slow_paths_at_full_size(case: str) -> None:
    result = outcome(P3_SLOW[case](), f"{case}.pdf")
    assert result.startswith("text:Plain page text") or result in P3_OUTCOMES, result


# --- P5: 2,000 pages --------------------------------------------------------------------------


def long_pdf(pages: int, seed: int = 5) -> bytes:
    """``pages`` pages of distinct sentences (no line repeats, so none is a running header)."""
    rng = random.Random(seed)
    words = ["bike", "rental", "helmet", "repair", "deposit", "tyre", "brake", "saddle",
             "harbour", "ferry", "route", "lock"]  # fmt: skip
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4)
    for _ in range(pages):
        for line in range(8):
            sheet.drawString(72, 800 - 16 * line, " ".join(rng.choices(words, k=10)))
        sheet.showPage()
    sheet.save()
    return buffer.getvalue()


@pytest.mark.slow
def test_p5_2000_pages_parse_within_600_mb_and_chunk_the_same_twice(embedder: object) -> None:
    from pipeline.chunk import ChunkSpec, chunk_document

    data = long_pdf(2000)
    limits = ParseLimits(max_seconds=120, max_memory_bytes=600 * MB)  # address space, not RSS
    first, second = parse(data, "long.pdf", limits), parse(data, "long.pdf", limits)
    spec = ChunkSpec(256, 32)
    count = embedder.count_tokens  # type: ignore[attr-defined]

    assert first == second and first.pages == 2000 and len(first.sections) == 2000
    assert len(chunk_document(first, count_tokens=count, spec=spec)) == len(
        chunk_document(second, count_tokens=count, spec=spec)
    )
    over = parse_error_code(long_pdf(2001), "long.pdf", limits)
    assert over == "too_many_pages"


def parse_error_code(data: bytes, name: str, limits: ParseLimits = SANDBOX) -> str:
    with pytest.raises(ParseError) as info:
        parse(data, name, limits)
    return info.value.code


# --- P6: no pickle on the PDF path ------------------------------------------------------------


def cjk_pdf() -> bytes:
    """A PDF whose text uses a CID font with a predefined CMap (UniJIS-UCS2-H)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiMin-W3"))
    buffer = io.BytesIO()
    sheet = canvas.Canvas(buffer, pagesize=A4)
    sheet.setFont("HeiseiMin-W3", 14)
    sheet.drawString(72, 800, "自転車のレンタル")
    sheet.setFont("Helvetica", 12)
    sheet.drawString(72, 780, "Bike rental")
    sheet.showPage()
    sheet.save()
    return buffer.getvalue()


def module_sources(package: str) -> Iterator[Path]:
    spec = __import__(package)
    yield from Path(spec.__file__).parent.rglob("*.py")


def test_p6_pdf_path_never_reaches_pickle_or_pdfminer() -> None:
    assert PARSERS["pdf"].__module__ == "pipeline.parse.pdf"  # pypdf, not unstructured
    packages = ["pypdf"] + (["pdfminer"] if "pdfminer" in _installed() else [])
    for package in packages:
        for path in module_sources(package):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert "pickle.load" not in text and "import pickle" not in text, path
    loaded_before = set(sys.modules)
    parsed = parse(cjk_pdf(), "cjk.pdf", IN_PROCESS)
    assert "Bike rental" in parsed.sections[0].text
    newly = set(sys.modules) - loaded_before
    assert not {m for m in newly if m.split(".")[0] in ("pdfminer", "pickle", "unstructured")}


def _installed() -> set[str]:
    from importlib.util import find_spec

    return {name for name in ("pdfminer",) if find_spec(name) is not None}


# --- D2: entity expansion in any part -----------------------------------------------------------

LAUGHS = (
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i + 1, (b"&lol%d;" % i if i else b"&lol;") * 10)
               for i in range(9))
    + b"]>"
)  # fmt: skip
QUADRATIC = b'<!DOCTYPE q [<!ENTITY a "' + b"B" * 100_000 + b'">]>'
EXTERNAL_PARAMETER = b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>'
D2_PAYLOADS = {"billion-laughs": (LAUGHS, b"&lol9;"), "quadratic": (QUADRATIC, b"&a;" * 10_000),
               "parameter-entity": (EXTERNAL_PARAMETER, b"")}  # fmt: skip
D2_PARTS = ["word/document.xml", "word/styles.xml", "docProps/core.xml"]


def docx_parts() -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(make_docx())) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def with_doctype(xml: bytes, doctype: bytes, reference: bytes) -> bytes:
    end = xml.index(b"?>") + 2
    close = xml.rindex(b"</")
    return xml[:end] + doctype + xml[end:close] + reference + xml[close:]


@pytest.mark.parametrize("part", D2_PARTS)
@pytest.mark.parametrize("payload", sorted(D2_PAYLOADS))
def test_d2_entity_expansion_in_any_part_is_refused_unexpanded(part: str, payload: str) -> None:
    parts = docx_parts()
    doctype, reference = D2_PAYLOADS[payload]
    parts[part] = with_doctype(parts[part], doctype, reference)

    assert outcome(zip_with(parts), "laughs.docx", IN_PROCESS) == "error:doctype_forbidden"


def test_d2_a_utf16_part_with_a_doctype_is_refused_in_the_sandbox() -> None:
    parts = docx_parts()
    xml = with_doctype(parts["word/styles.xml"], LAUGHS, b"&lol9;").decode("utf-8")
    parts["word/styles.xml"] = xml.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert outcome(zip_with(parts), "utf16.docx") == "error:doctype_forbidden"


# --- D4: big DOCX -----------------------------------------------------------------------------


def test_d4_a_file_over_the_upload_limit_is_refused_before_it_is_stored(
    tmp_path: Path, settings: object, prefect_server: None
) -> None:
    from tests.cli import intaj

    big = tmp_path / "huge.docx"
    with big.open("wb") as f:
        f.truncate(60 * MB)  # 60 MB (sparse) against the 50 MB default
    root = settings.resolved_storage_root  # type: ignore[attr-defined]
    before = {p for p in root.rglob("*")} if root.exists() else set()
    chatbot = f"d4-{os.getpid()}-{random.randrange(10**6)}"

    code, out = intaj("ingest", str(big), "--chatbot", chatbot, "--json")

    assert code == 1
    (result,) = out["sources"]
    assert result["status"] == "failed"
    assert "over the limit of 52428800 (INTAJ_MAX_FILE_BYTES)" in result["error"]
    after = {p for p in root.rglob("*")} if root.exists() else set()
    assert not [p for p in after - before if p.name == "huge.docx"]  # nothing stored
    intaj_delete(chatbot)


def intaj_delete(chatbot: str) -> None:
    from core.settings import get_settings
    from db import open_pool

    with open_pool(get_settings()).connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE name = %s", (chatbot,))


def docx_with_media(total: int, pieces: int = 5) -> bytes:
    """The handbook DOCX plus ``total`` bytes of incompressible image parts, referenced from
    the document's relationships (stored, not deflated, as cameras' JPEGs effectively are)."""
    parts = docx_parts()
    rng = random.Random(1)
    rels = parts["word/_rels/document.xml.rels"]
    extra = b"".join(
        b'<Relationship Id="rIdBig%d" Type="http://schemas.openxmlformats.org/officeDocument/'
        b'2006/relationships/image" Target="media/big%d.png"/>' % (i, i)
        for i in range(pieces)
    )
    parts["word/_rels/document.xml.rels"] = rels.replace(
        b"</Relationships>", extra + b"</Relationships>"
    )
    if b'Extension="png"' not in parts["[Content_Types].xml"]:
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
            b"<Default ", b'<Default Extension="png" ContentType="image/png"/><Default ', 1
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
        for i in range(pieces):
            blob = b"\x89PNG\r\n\x1a\n" + rng.randbytes(total // pieces)
            archive.writestr(f"word/media/big{i}.png", blob, zipfile.ZIP_STORED)
    return buffer.getvalue()


def test_d4_50_mb_of_images_and_a_little_text_parses_to_the_text() -> None:
    data = docx_with_media(50 * MB)
    assert len(data) > 50 * MB
    before = rss()
    parsed = parse(data, "photos.docx")
    assert "Refunds are paid within 14 days." in " ".join(s.text for s in parsed.sections)
    assert rss() - before < 160 * MB  # the caller holds the file and its pickled copy only


@pytest.mark.slow
def test_d4_500_mb_of_xml_text_is_rejected_before_inflating() -> None:
    rng = random.Random(2)
    words = ["refund", "policy", "receipt", "store", "credit", "exchange", "warranty",
             "invoice", "shipping"]  # fmt: skip
    paragraph = " ".join(rng.choices(words, k=2_000_000)).encode()  # about 16 MB
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(b"<w:document><w:body><w:p><w:r><w:t>")
            for _ in range(32):
                part.write(paragraph)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    assert outcome(buffer.getvalue(), "wordy.docx") == "error:archive_rejected"


# --- D5: odd but valid DOCX, and not-DOCX named .docx ------------------------------------------


def external_picture_docx(url: str) -> bytes:
    """A paragraph with a picture linked (r:link, TargetMode External) to ``url``."""
    parts = docx_parts()
    rels = parts["word/_rels/document.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdExt" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/image" Target="' + url.encode() + b'" TargetMode="External"/>'
        b"</Relationships>",
    )
    drawing = (
        b'<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/'
        b'drawingml/2006/wordprocessingDrawing"><wp:extent cx="9525" cy="9525"/>'
        b'<wp:docPr id="9" name="p"/><a:graphic xmlns:a="http://schemas.openxmlformats.org/'
        b'drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/'
        b'2006/picture"><pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/'
        b'picture"><pic:nvPicPr><pic:cNvPr id="9" name="p"/><pic:cNvPicPr/></pic:nvPicPr>'
        b'<pic:blipFill><a:blip r:link="rIdExt"/></pic:blipFill><pic:spPr/></pic:pic>'
        b"</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
    )
    parts["word/_rels/document.xml.rels"] = rels
    body = parts["word/document.xml"]
    parts["word/document.xml"] = body.replace(b"<w:sectPr", drawing + b"<w:sectPr", 1)
    return zip_with(parts)


def bom_docx() -> bytes:
    parts = docx_parts()
    parts["word/document.xml"] = b"\xef\xbb\xbf" + parts["word/document.xml"]
    return zip_with(parts)


def text_box_docx() -> bytes:
    parts = docx_parts()
    box = (
        b'<w:p><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-'
        b'compatibility/2006"><mc:Fallback><w:pict><v:shape xmlns:v="urn:schemas-microsoft-'
        b'com:vml"><v:textbox><w:txbxContent><w:p><w:r><w:t>Boxed note.</w:t></w:r></w:p>'
        b"</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent>"
        b"</w:r></w:p>"
    )
    parts["word/document.xml"] = parts["word/document.xml"].replace(
        b"<w:sectPr", box + b"<w:sectPr", 1
    )
    return zip_with(parts)


@pytest.fixture
def canary() -> Iterator[Site]:
    with running_site() as site:
        yield site


def test_d5_odd_but_valid_docx_parse_and_nothing_is_fetched(canary: Site) -> None:
    cases = {
        "external-picture.docx": external_picture_docx(canary.url("/canary.png")),
        "utf8-bom.docx": bom_docx(),
        "text-box.docx": text_box_docx(),
    }
    for name, data in cases.items():
        parsed = parse(data, name)
        text = " ".join(s.text for s in parsed.sections)
        assert "Refunds are paid within 14 days." in text, name
    assert canary.hits == []


def test_d5_files_that_are_not_docx_get_a_clear_code() -> None:
    empty_zip = zip_with({})
    assert outcome(empty_zip, "empty.docx") == "error:unsupported_format"
    assert outcome(zip_with({"hello.txt": b"hello"}), "hello.docx") == "error:unsupported_format"
    assert outcome(b"", "zero.docx") == "error:empty_document"
    assert outcome(b"PK\x03\x04" + b"\x00" * 200, "stub.docx") == "error:unsupported_format"


# --- H2: wide HTML, chained encodings ---------------------------------------------------------


@pytest.mark.slow
def test_h2_five_million_sibling_paragraphs_end_in_a_limit_or_text() -> None:
    page = b"<html><body>" + b"<p>Wide page.</p>" * 5_000_000 + b"</body></html>"
    result = outcome(page, "wide.html", ParseLimits(max_seconds=20, max_memory_bytes=1024 * MB))
    assert result in ("error:resource_limit", "error:document_too_large") or result.startswith(
        "text:Wide page."
    )


def test_h2_more_than_five_content_encodings_are_refused(tmp_path: Path) -> None:
    body = b"nested words"
    for _ in range(6):
        body = gzip.compress(body)
    with running_site() as site:
        site.pages["/onion"] = (200, {"Content-Encoding": ", ".join(["gzip"] * 6)}, body)
        with pytest.raises(SourceError) as info:
            fetch_url(site.url("/onion"), settings=settings_for(tmp_path, site.host))
    assert info.value.code == "fetch_failed"
    assert "content encodings" in info.value.message


# --- S2: archive member names ----------------------------------------------------------------

S2_NAMES = ["../../s2-escape.txt", "/tmp/s2-absolute.txt", "..\\..\\s2-backslash.txt",
            "word/../../../s2-dotted.txt"]  # fmt: skip


def traversal_docx() -> bytes:
    parts = docx_parts()
    rels = parts["word/_rels/document.xml.rels"]
    extra = b"".join(
        b'<Relationship Id="rIdT%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/image" Target="%s"/>' % (i, name.encode())
        for i, name in enumerate(S2_NAMES)
    )
    parts["word/_rels/document.xml.rels"] = rels.replace(
        b"</Relationships>", extra + b"</Relationships>"
    )
    for name in S2_NAMES:
        parts[name] = b"written by name"
    return zip_with(parts)


def test_s2_parts_named_out_of_the_archive_are_never_written_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    data = traversal_docx()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert set(S2_NAMES) <= set(archive.namelist())

    results = {outcome(data, "names.docx", IN_PROCESS), outcome(data, "names.docx")}

    assert results <= {"text:Refunds are paid within 14 days.", "error:unparseable_docx",
                       "error:archive_rejected"}, results  # fmt: skip
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []
    for name in ("s2-escape.txt", "s2-absolute.txt", "s2-backslash.txt", "s2-dotted.txt"):
        assert not (Path("/tmp") / name).exists()
        assert not (tmp_path / name).exists()


def test_s2_python_docx_reads_parts_from_memory_only() -> None:
    """Nothing in python-docx's package reader extracts by member name."""
    import docx.opc.phys_pkg as phys_pkg

    source = Path(phys_pkg.__file__).read_text()
    assert "extract(" not in source and "extractall" not in source
    reader = PdfReader  # the PDF path likewise has no attachment extraction to disk
    assert not hasattr(reader, "extract_attachments_to")
    assert PdfWriter is not None
