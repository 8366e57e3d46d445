"""Arabic documents parse into searchable Arabic in reading order, headings and pages kept.

The fixtures in tests/fixtures/arabic/ were made by real producers (LibreOffice, reportlab fed
text shaped by arabic-reshaper and reordered by python-bidi, python-docx, a hand-written web
page); tests/fixtures/arabic/generate.py made them and says how. The visual-order strings in
the unit tests below are python-bidi's ``get_display`` of the logical ones (``bidi.algorithm``'s
variant, which also mirrors brackets, where the bracket faces differ).
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from core.types import Document, Parsed
from pipeline.parse import parse_document
from pipeline.parse.registry import ParseLimits
from pipeline.parse.rtl import (
    fold_presentation_forms,
    logical_text,
    looks_visual,
    respell,
    strip_bidi_controls,
)
from pipeline.parse.sections import clean_block
from pipeline.parse.visual_order import visual_to_logical

FIXTURES = Path(__file__).parent / "fixtures" / "arabic"
LIBREOFFICE_PDF = "rental-policy-libreoffice.pdf"
RESHAPED_PDF = "rental-policy-reshaped.pdf"

TITLE = "سياسة تأجير الدراجات"
HOURS = "ساعات العمل"
PAGE_1 = (
    "مرحبا بكم في متجر Northwind للدراجات في ميناء إليري.",
    "يجب إعادة الدراجة المستأجرة خلال 30 يوما من تاريخ الاستئجار.",
    "رسوم التأخير 5 دولارات عن كل ساعة (بعد موعد الإعادة).",
)
PAGE_2 = (
    "نفتح كل يوم من الساعة 9 صباحا حتى الساعة 18 مساء.",
    "للحجز اتصلوا بالرقم 555-0142 أو زوروا متجر Northwind Bikes في شارع الميناء.",
    "شكرًا لاختياركم دراجاتنا.",
)
HARAKAT = re.compile("[\u064b-\u065f\u0670]")  # arabic-reshaper drops them, LibreOffice keeps them
PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufefc]")
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def comparable(text: str) -> str:
    return " ".join(HARAKAT.sub("", unicodedata.normalize("NFKC", text)).split())


def parse_fixture(name: str) -> Parsed:
    data = (FIXTURES / name).read_bytes()
    return parse_document(Document(data=data, name=name), limits=ParseLimits(sandbox=False))


def assert_clean(parsed: Parsed) -> None:
    for section in parsed.sections:
        assert not PRESENTATION_FORMS.search(section.text), section.text
        assert not BIDI_CONTROLS.search(section.text + "".join(section.headings)), section.text


# --- PDF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [LIBREOFFICE_PDF, RESHAPED_PDF])
def test_arabic_pdf_parses_to_arabic_in_reading_order_with_page_numbers(name):
    parsed = parse_fixture(name)
    pages = {section.page: section.text for section in parsed.sections}
    assert sorted(pages) == [1, 2]
    for page, heading, sentences in ((1, TITLE, PAGE_1), (2, HOURS, PAGE_2)):
        lines = [comparable(line) for line in pages[page].splitlines()]
        assert comparable(heading) in lines
        for sentence in sentences:
            assert comparable(sentence) in lines, pages[page]
    # Digits and Latin words inside Arabic sentences keep their own left-to-right order.
    assert "خلال 30 يوما" in pages[1] and "بالرقم 555-0142 أو" in pages[2]
    assert "متجر Northwind للدراجات" in pages[1] and "متجر Northwind Bikes في" in pages[2]
    assert "(بعد موعد الإعادة)." in pages[1]  # brackets face the right way
    assert_clean(parsed)


def test_libreoffice_pdf_keeps_letters_of_ligatures_in_order_and_marks_on_their_letters():
    pages = {section.page: section.text for section in parse_fixture(LIBREOFFICE_PDF).sections}
    # DejaVu Sans draws lam-alef as one glyph that maps to two letters; LibreOffice keeps the
    # tanween of "شكرًا" as a mark placed over its letter.
    assert "دولارات" in pages[1] and "الإعادة" in pages[1] and "خلال" in pages[1]
    assert "شكرًا لاختياركم دراجاتنا." in pages[2]
    assert parse_fixture(LIBREOFFICE_PDF).title == TITLE


def test_the_pdf_fixtures_store_the_text_as_their_producers_do():
    """The reshaped PDF holds presentation forms, LibreOffice's base letters; laid out by
    position both read backwards, and the parsed text does not."""
    for name, forms in ((RESHAPED_PDF, True), (LIBREOFFICE_PDF, False)):
        reader = PdfReader(FIXTURES / name)
        for number, page in enumerate(reader.pages, start=1):
            plain = page.extract_text()
            layout = page.extract_text(extraction_mode="layout")
            assert bool(PRESENTATION_FORMS.search(plain)) is forms
            assert looks_visual(layout), (name, number)
            assert not looks_visual(logical_text(layout, by_position=True, spelling=plain))


def make_english_pdf(lines: list[str]) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for y, line in zip(range(800, 0, -16), lines, strict=False):
        pdf.drawString(72, y, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_english_pdf_text_is_pypdfs_plain_text_as_before():
    lines = ["Returns (within 30 days) are free.", "Late fee: $5 per hour; [see p. 2]."]
    data = make_english_pdf(lines)
    parsed = parse_document(Document(data=data, name="en.pdf"), limits=ParseLimits(sandbox=False))
    expected = clean_block(PdfReader(io.BytesIO(data)).pages[0].extract_text())
    assert [s.text for s in parsed.sections] == [expected] == ["\n".join(lines)]


# --- DOCX and HTML --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["rental-policy.docx", "rental-policy.html", "rental-policy-libreoffice.html"]
)
def test_rtl_docx_and_html_keep_headings_and_drop_direction_marks(name):
    parsed = parse_fixture(name)
    assert [s.headings for s in parsed.sections] == [(TITLE,), (TITLE, HOURS)]
    assert [s.text.splitlines() for s in parsed.sections] == [list(PAGE_1), list(PAGE_2)]
    assert parsed.title is not None and parsed.title.startswith(TITLE)
    assert_clean(parsed)


def test_the_docx_and_html_fixtures_hold_rtl_markup_and_marks():
    docx = (FIXTURES / "rental-policy.docx").read_bytes()
    page = (FIXTURES / "rental-policy.html").read_text(encoding="utf-8")
    libreoffice = (FIXTURES / "rental-policy-libreoffice.html").read_text(encoding="utf-8")
    assert b"word/document.xml" in docx
    assert 'dir="rtl"' in page and "&rlm;" in page and "<bdi>" in page
    assert '<p dir="rtl"' in libreoffice and '<h1 dir="rtl"' in libreoffice


# --- the pure functions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visual", "logical"),
    [
        ("تاجاردلا ىلع %50 مصخلا", "الخصم 50% على الدراجات"),
        (")0142-555 :فتاهلا( انب لصتا", "اتصل بنا (الهاتف: 555-0142)"),
        ("(0142-555 :فتاهلا) انب لصتا", "اتصل بنا (الهاتف: 555-0142)"),
        ("ةنيدملا يف Northwind Bikes 2 رجتم", "متجر Northwind Bikes 2 في المدينة"),
        ("ةعاس لكل رانيد 12.5 رعسلا", "السعر 12.5 دينار لكل ساعة"),
        ("Call مكب ابحرم today", "Call مرحبا بكم today"),
        ("ايموي 18:30 ىلإ 9:00 نم", "من 9:00 إلى 18:30 يوميا"),
        ("زهاج 5678 و 1234 مقر بلطلا", "الطلب رقم 1234 و 5678 جاهز"),
        ("2024 םלוע םולש", "שלום עולם 2024"),
        ("]ابيرقت[ لاير 1,500 رعسلا", "السعر 1,500 ريال [تقريبا]"),
        ("[ابيرقت] لاير 1,500 رعسلا", "السعر 1,500 ريال [تقريبا]"),
        ("Northwind مكب بحري", "Northwind يرحب بكم"),
        (")رداغ( مث »ابحرم« :لاق", "قال: «مرحبا» ثم (غادر)"),
        ("(رداغ) مث «ابحرم» :لاق", "قال: «مرحبا» ثم (غادر)"),
        ("Page 2\nةنيدملا يف رجتم", "Page 2\nمتجر في المدينة"),
    ],
)
def test_visual_to_logical_undoes_python_bidi(visual, logical):
    assert visual_to_logical(visual) == logical


def test_reshaped_text_comes_back_as_letters_in_reading_order():
    reshaped = ".ﺎﻣﻮﻳ 30 ﻝﻼﺧ ﺓﺩﺎﻋﻹﺍ ،ﻢﻛﺭﺎﻴﺘﺧﻻ ﺍﺮﻜﺷ"  # arabic-reshaper, then get_display
    assert looks_visual(reshaped)
    expected = "شكرا لاختياركم، الإعادة خلال 30 يوما."
    assert logical_text(reshaped, by_position=False) == expected
    assert fold_presentation_forms("ﺳﻼﻡ ﷲ ﹰ") == "سلام الله ً"


def test_text_in_reading_order_and_english_text_are_left_as_they_are():
    for text in (
        "مرحبا بكم في متجر Northwind للدراجات، خلال 30 يوما.",
        "Returns within 30 days (see page 2).",
    ):
        assert not looks_visual(text)
        assert logical_text(text, by_position=False) == text
    assert logical_text("Late fee: $5 [per hour]", by_position=True) == "Late fee: $5 [per hour]"


def test_respell_takes_words_spelled_by_glyph_from_the_plain_text():
    # A lam-alef glyph maps to "لا"; turned around with its line it reads "ال".
    assert respell("دوالرات خالل الدراجة", "الدراجة خلال دولارات") == "دولارات خلال الدراجة"
    assert respell("علم", "عمل") == "عمل" and respell("علم", "عمل لمع") == "علم"


def test_split_tanween_is_joined_and_direction_marks_are_removed():
    assert logical_text("شكرً ا لكم", by_position=False) == "شكرًا لكم"
    assert strip_bidi_controls("متجر \u200eNorthwind\u200f \u2067555\u2069") == "متجر Northwind 555"
