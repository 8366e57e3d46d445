"""Other formats through unstructured's partitioners (epub, pptx, xlsx, odt, rtf, eml, msg,
xml, rst, org).

Elements map to sections: Title elements update the heading path (by ``category_depth``),
Table elements become table sections, list items get a "- ", the rest is text on its page.

unstructured classifies text with a spaCy model that it downloads on first use; parsing must
not reach the network, so when the model is not installed this raises ``parser_unavailable``
instead of letting unstructured fetch it. Missing optional packages (python-pptx, openpyxl,
pandoc...) raise ``parser_unavailable`` too, naming what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
from collections.abc import Callable, Iterable
from typing import Any

from bs4 import BeautifulSoup, Tag

from core.errors import ParseError
from core.types import Parsed
from pipeline.parse.base import ParseLimits
from pipeline.parse.html import table_rows
from pipeline.parse.sections import SectionBuilder, clean_inline

SPACY_MODEL = "en_core_web_sm"

# type -> (module, partition function) in unstructured.partition
PARTITIONERS = {
    "epub": ("epub", "partition_epub"),
    "pptx": ("pptx", "partition_pptx"),
    "xlsx": ("xlsx", "partition_xlsx"),
    "odt": ("odt", "partition_odt"),
    "rtf": ("rtf", "partition_rtf"),
    "eml": ("email", "partition_email"),
    "msg": ("msg", "partition_msg"),
    "xml": ("xml", "partition_xml"),
    "rst": ("rst", "partition_rst"),
    "org": ("org", "partition_org"),
}
TYPES = tuple(PARTITIONERS)


def _unavailable(name: str, kind: str, what: str) -> ParseError:
    return ParseError(
        f"{name}: .{kind} files cannot be parsed on this server ({what}); convert the file to "
        "PDF, DOCX, HTML or text, or ask an administrator to install the missing package",
        code="parser_unavailable",
    )


def _partitioner(name: str, kind: str) -> Callable[..., list[Any]]:
    if importlib.util.find_spec(SPACY_MODEL) is None:
        raise _unavailable(name, kind, f"the spaCy model {SPACY_MODEL} is not installed")
    for variable in ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "UNSTRUCTURED_DISABLE_NOTICE"):
        os.environ.setdefault(variable, "1")  # no telemetry ping, no banner
    module, function = PARTITIONERS[kind]
    try:
        partition: Callable[..., list[Any]] = getattr(
            importlib.import_module(f"unstructured.partition.{module}"), function
        )
    except ImportError as e:
        raise _unavailable(name, kind, f"missing package: {e.name or e}") from e
    return partition


def _table_rows(element: Any, text: str) -> list[list[str]]:
    markup = getattr(element.metadata, "text_as_html", None)
    table = BeautifulSoup(markup, "lxml").find("table") if markup else None
    if isinstance(table, Tag):
        return list(table_rows(table))
    return [[line] for line in text.splitlines()]


def elements_to_sections(elements: Iterable[Any]) -> SectionBuilder:
    """Feed unstructured elements (Title, Table, ListItem, NarrativeText...) to a builder."""
    out = SectionBuilder()
    for element in elements:
        out.set_page(getattr(element.metadata, "page_number", None))
        category = getattr(element, "category", "")
        text = element.text or ""
        if category == "Title":
            depth = getattr(element.metadata, "category_depth", None) or 0
            out.heading(depth + 1, text)
        elif category == "Table":
            out.table(_table_rows(element, text))
        elif category == "ListItem" and text.strip():
            out.paragraph("- " + text)
        elif category not in ("Header", "Footer", "PageBreak", "Image"):
            out.paragraph(text)
    return out


def parse_with_unstructured(data: bytes, name: str, kind: str) -> Parsed:
    """Sections from unstructured's partitioner for ``kind`` (a key of PARTITIONERS)."""
    partition = _partitioner(name, kind)
    try:
        elements = partition(file=io.BytesIO(data))
    except (ParseError, MemoryError):
        raise
    except ImportError as e:
        raise _unavailable(name, kind, f"missing package: {e.name or e}") from e
    except Exception as e:
        raise ParseError(
            f"{name} could not be parsed as .{kind} ({type(e).__name__}: {e}); save it again "
            "or convert it to PDF",
            code="unparseable",
        ) from e
    sections = elements_to_sections(elements).build()
    title = next((clean_inline(s.headings[0]) for s in sections if s.headings), None)
    return Parsed(sections=sections, title=title)


def parser_for(kind: str) -> Callable[[bytes, str, ParseLimits], Parsed]:
    """The registry entry for ``kind``."""

    def parse(data: bytes, name: str, limits: ParseLimits) -> Parsed:
        return parse_with_unstructured(data, name, kind)

    parse.__name__ = f"parse_{kind}"
    return parse
