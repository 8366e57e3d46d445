"""Parsing real documents: page numbers, heading paths, tables, boilerplate, type detection.

Fixtures are generated here (reportlab for PDF, python-docx for DOCX, strings for HTML and
Markdown), so every expected string is visible next to its assertion.
"""

from __future__ import annotations

import io
import time
import warnings
from importlib.util import find_spec

import docx
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from core.errors import ParseError
from core.types import Document, Parsed, Section
from pipeline.parse import detect_type, parse_document
from pipeline.parse.other import SPACY_MODEL, elements_to_sections
from pipeline.parse.registry import PARSERS, ParseLimits

IN_PROCESS = ParseLimits(sandbox=False)


def parse(data: bytes, name: str, limits: ParseLimits = IN_PROCESS) -> Parsed:
    return parse_document(Document(data=data, name=name), limits=limits)


def parse_error(data: bytes, name: str, limits: ParseLimits = IN_PROCESS) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(data, name, limits)
    return caught.value


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A PDF with one page per list of lines."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    if title:
        pdf.setTitle(title)
    for lines in pages:
        y = 800
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Refund handbook"
    document.sections[0].header.paragraphs[0].text = "CONFIDENTIAL HEADER"
    document.sections[0].footer.paragraphs[0].text = "Page footer text"
    document.add_heading("Refunds", level=1)
    document.add_paragraph("Refunds are paid within 14 days.")
    document.add_paragraph("Keep the receipt.")
    document.add_heading("Exceptions", level=2)
    document.add_paragraph("Gift cards", style="List Bullet")
    document.add_paragraph("Sale items", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Plan", "Price"), ("Basic", "10 USD")], strict=True):
        row.cells[0].text, row.cells[1].text = cells
    document.add_heading("Shipping", level=1)
    document.add_paragraph("Orders ship in 2 days.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- PDF ------------------------------------------------------------------------------------


def test_pdf_sections_carry_their_page_number_and_the_title_comes_from_metadata():
    data = make_pdf([["Welcome to the guide."], ["The refund window is 14 days."]], "Guide")

    parsed = parse(data, "guide.pdf")

    assert parsed.pages == 2
    assert parsed.title == "Guide"
    assert [(s.page, s.text) for s in parsed.sections] == [
        (1, "Welcome to the guide."),
        (2, "The refund window is 14 days."),
    ]


def test_pdf_over_the_page_limit_is_refused():
    data = make_pdf([["one"], ["two"], ["three"]])

    error = parse_error(data, "long.pdf", ParseLimits(sandbox=False, max_pages=2))

    assert error.code == "too_many_pages"
    assert "3 pages" in error.message


def test_pdf_with_only_blank_pages_has_no_text():
    error = parse_error(make_pdf([[], []]), "scan.pdf")

    assert error.code == "no_text"
    assert "OCR" in error.message


# --- DOCX -----------------------------------------------------------------------------------


def test_docx_heading_paths_lists_and_tables_in_document_order():
    parsed = parse(make_docx(), "handbook.docx")

    assert parsed.title == "Refund handbook"
    assert parsed.sections == (
        Section(text="Refunds are paid within 14 days.\nKeep the receipt.", headings=("Refunds",)),
        Section(text="- Gift cards\n- Sale items", headings=("Refunds", "Exceptions")),
        Section(
            text="Plan | Price\nBasic | 10 USD", headings=("Refunds", "Exceptions"), kind="table"
        ),
        Section(text="Orders ship in 2 days.", headings=("Shipping",)),
    )


def test_docx_header_and_footer_are_left_out():
    text = "\n".join(s.text for s in parse(make_docx(), "handbook.docx").sections)

    assert "CONFIDENTIAL" not in text
    assert "footer" not in text


# --- HTML -----------------------------------------------------------------------------------

PAGE = b"""<!DOCTYPE html>
<html><head><title>Pricing - Acme</title><style>p { color: red }</style></head>
<body>
  <header><a href="/">Acme home</a></header>
  <nav><ul><li>Products</li><li>About</li></ul></nav>
  <div role="navigation">Breadcrumbs</div>
  <main>
    <h1>Pricing</h1>
    <p>All plans include   support.</p>
    <p>Cancel any time.</p>
    <h2>Plans</h2>
    <table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>20 USD</td></tr></table>
    <ul><li>Monthly billing</li><li>Yearly billing</li></ul>
    <script>var tracking = 1;</script>
  </main>
  <aside>Related posts</aside>
  <footer>Copyright Acme</footer>
</body></html>"""


def test_html_keeps_the_main_content_under_its_headings_and_drops_the_chrome():
    parsed = parse(PAGE, "pricing.html")

    assert parsed.title == "Pricing - Acme"
    assert parsed.sections == (
        Section(text="All plans include support.\nCancel any time.", headings=("Pricing",)),
        Section(text="Plan | Price\nPro | 20 USD", headings=("Pricing", "Plans"), kind="table"),
        Section(text="Monthly billing\nYearly billing", headings=("Pricing", "Plans")),
    )
    everything = " ".join(s.text for s in parsed.sections)
    for chrome in ("Acme home", "Products", "Breadcrumbs", "Related", "Copyright", "tracking"):
        assert chrome not in everything


def test_html_without_main_uses_the_body_and_the_first_h1_as_title():
    parsed = parse(b"<html><body><h1>Help</h1><div>Call us<br>any day</div></body></html>", "x")

    assert parsed.title == "Help"
    assert parsed.sections == (Section(text="Call us\nany day", headings=("Help",)),)


def test_sibling_headings_under_a_page_that_starts_at_h2_each_have_one_parent():
    """DocBook pages (the PostgreSQL manual) start at h2; Sphinx ends each heading with a
    permalink mark. "8.1.2" is a sibling of "8.1.1", not its child."""
    page = (
        b"<html><body><h2>8.1. Numeric Types</h2><p>Overview.</p>"
        b"<h3>8.1.1. Integer Types</h3><p>smallint, integer, bigint.</p>"
        b'<h3>8.1.2. Arbitrary Precision Numbers<a class="headerlink" href="#n">\xc2\xb6</a></h3>'
        b"<p>numeric.</p><h2>8.2. Monetary Types</h2><p>money.</p></body></html>"
    )
    parsed = parse(page, "datatype.html")

    assert [s.headings for s in parsed.sections] == [
        ("8.1. Numeric Types",),
        ("8.1. Numeric Types", "8.1.1. Integer Types"),
        ("8.1. Numeric Types", "8.1.2. Arbitrary Precision Numbers"),
        ("8.2. Monetary Types",),
    ]


def test_html_sections_stay_apart_even_without_headings():
    """An FAQ page whose answers sit in <section>s with no heading (styled questions): each
    answer, and the text after a nested section, is its own division."""
    page = (
        b"<html><body><main><h1>FAQ</h1>"
        b"<section><p>We open daily at nine.</p></section>"
        b"<section><p>Helmets are included.</p><section><p>Kids' sizes too.</p></section>"
        b"<p>Ask at the desk.</p></section>"
        b"</main></body></html>"
    )
    parsed = parse(page, "faq.html")

    texts = [s.text for s in parsed.sections]
    assert texts == [
        "We open daily at nine.",
        "Helmets are included.",
        "Kids' sizes too.",
        "Ask at the desk.",
    ]
    assert len({s.part for s in parsed.sections}) == 4
    assert all(s.headings == ("FAQ",) for s in parsed.sections)


def test_docbook_section_divs_stay_apart_like_sections():
    """DocBook (the Debian FAQ, the PostgreSQL manual) and Sphinx before 4 write sections as
    <div class="section">/<div class="sect2">: the same divisions, so two answers never share a
    chunk; a plain <div> is no boundary."""
    page = (
        b'<html><body><div class="chapter"><h2>Customizing</h2>'
        b'<div class="section"><p>Set the paper size with paperconfig.</p></div>'
        b'<div class="section"><p>The kbd package sets the console font.</p></div>'
        b'<div class="sect2 extra"><p>Use dpkg-divert to keep your file.</p></div>'
        b"<div><p>Plain divs</p></div><div><p>join up.</p></div>"
        b"</div></body></html>"
    )
    parsed = parse(page, "customizing.html")

    assert [s.text for s in parsed.sections] == [
        "Set the paper size with paperconfig.",
        "The kbd package sets the console font.",
        "Use dpkg-divert to keep your file.",
        "Plain divs\njoin up.",
    ]
    assert len({s.part for s in parsed.sections}) == 4


def test_xhtml_pages_parse_as_html_without_a_warning():
    """DocBook and Sphinx write XHTML with an XML declaration; bs4 warns about reading that
    with an HTML parser, a screenful per page in `intaj ingest`'s output. We mean to."""
    page = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"'
        b' "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Aggregates</title></head>'
        b"<body><h1>Aggregate Functions</h1><p>An aggregate computes one result.</p>"
    )  # no closing tags, as in a page cut short
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = parse(page, "tutorial-agg.html")

    assert parsed.title == "Aggregates"
    assert [s.text for s in parsed.sections] == ["An aggregate computes one result."]


# --- Markdown and text ----------------------------------------------------------------------


def test_markdown_headings_become_the_heading_path():
    source = b"""# Guide

Intro text.

## Install

Run [the installer](http://x).

| a | b |
|---|---|
| 1 | 2 |
"""

    parsed = parse(source, "guide.md")

    assert parsed.title == "Guide"
    assert parsed.sections == (
        Section(text="Intro text.", headings=("Guide",)),
        Section(text="Run the installer.", headings=("Guide", "Install")),
        Section(text="a | b\n1 | 2", headings=("Guide", "Install"), kind="table"),
    )


def test_text_file_is_one_section_with_nul_bytes_removed():
    parsed = parse("Première ligne\x00.\n\n\n\nSecond paragraph.".encode(), "notes.txt")

    assert parsed.sections == (Section(text="Première ligne.\n\nSecond paragraph."),)


def test_csv_rows_become_a_table():
    parsed = parse(b"name,price\nBasic,10\nPro,20\n", "prices.csv")

    assert parsed.sections == (Section(text="name | price\nBasic | 10\nPro | 20", kind="table"),)


# --- Other formats (unstructured) ---------------------------------------------------------


def test_unstructured_elements_map_to_sections_with_pages_and_headings():
    from unstructured.documents.elements import (
        ElementMetadata,
        ListItem,
        NarrativeText,
        Table,
        Title,
    )

    def on_page(page: int, depth: int | None = None) -> ElementMetadata:
        return ElementMetadata(page_number=page, category_depth=depth)

    table_html = "<table><tr><td>Plan</td><td>Price</td></tr><tr><td>Pro</td><td>20</td></tr>"
    table_metadata = on_page(2)
    table_metadata.text_as_html = table_html
    elements = [
        Title("Slides", metadata=on_page(1, 0)),
        NarrativeText("Welcome.", metadata=on_page(1)),
        Title("Prices", metadata=on_page(2, 1)),
        ListItem("Cheap", metadata=on_page(2)),
        Table("Plan Price Pro 20", metadata=table_metadata),
    ]

    sections = elements_to_sections(elements).build()

    assert sections == (
        Section(text="Welcome.", page=1, headings=("Slides",)),
        Section(text="- Cheap", page=2, headings=("Slides", "Prices")),
        Section(text="Plan | Price\nPro | 20", page=2, headings=("Slides", "Prices"), kind="table"),
    )


@pytest.mark.skipif(find_spec(SPACY_MODEL) is not None, reason="the spaCy model is installed")
def test_unstructured_formats_without_their_model_are_unavailable_not_fetched():
    error = parse_error(b"<catalog><item>Tea</item></catalog>", "catalog.xml")

    assert error.code == "parser_unavailable"
    assert SPACY_MODEL in error.message


# --- Detection and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (make_pdf([["x"]]), "report.docx", "pdf"),  # magic bytes beat the name
        (make_docx(), "upload.bin", "docx"),
        (b"<!doctype html><p>hi</p>", "page.txt", "html"),
        (b"# Title\n", "README.md", "md"),
        (b"plain words", "notes", "txt"),
        (b"a,b\n1,2\n", "table.CSV", "csv"),
        (b"<r><a>1</a></r>", "data.xml", "xml"),
    ],
)
def test_detect_type_uses_magic_bytes_first_then_the_extension(data, name, expected):
    assert detect_type(data, name) == expected
    assert expected in PARSERS


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "photo.png"),
        (bytes(range(256)) * 4, "blob.txt"),  # text by name, binary by content
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.doc"),
        (b"not a pdf at all", "fake.pdf"),
    ],
)
def test_unsupported_files_name_the_supported_types(data, name):
    error = parse_error(data, name)

    assert error.code == "unsupported_format"
    assert "pdf" in error.message and "docx" in error.message


@pytest.mark.parametrize("data", [b"", b"  \n\t \r\n"])
def test_empty_file_contains_no_text(data):
    error = parse_error(data, "empty.txt")

    assert error.code == "empty_document"
    assert "contains no text" in error.message


# --- Sandbox --------------------------------------------------------------------------------


def test_sandboxed_parse_returns_the_same_result_as_in_process():
    data = make_docx()

    assert parse(data, "handbook.docx", ParseLimits()) == parse(data, "handbook.docx")


def test_sandboxed_parse_error_keeps_its_code_and_message():
    error = parse_error(make_pdf([[]]), "blank.pdf", ParseLimits())

    assert error.code == "no_text"
    assert "blank.pdf has no extractable text" in error.message


def test_sandbox_overhead_per_document_is_small():
    data = b"Short note."
    parse(data, "warm.txt", ParseLimits())  # starts the fork server once

    started = time.perf_counter()
    for _ in range(5):
        parse(data, "note.txt", ParseLimits())
    per_document = (time.perf_counter() - started) / 5

    assert per_document < 0.3
