"""An Arabic owner's documents, end to end: each real file of tests/fixtures/arabic (a PDF
LibreOffice wrote in logical order, a reshaped visual-order PDF from reportlab, an RTL DOCX and
a `dir="rtl"` web page) is ingested into an Arabic chatbot, and `intaj ask` answers an Arabic
question from it, citing that file (and, for a PDF, the page the answer is on)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from retrieval.language import fold
from tests.cli import intaj

FIXTURES = Path(__file__).parent / "fixtures" / "arabic"
QUESTION = "كم رسوم التأخير عن كل ساعة؟"  # how much is the late fee per hour?
FEE = "رسوم التأخير 5 دولارات"  # the late fee is 5 dollars


@pytest.fixture
def arabic_chatbot(pool: ConnectionPool, prefect_server: None) -> Iterator[str]:
    name = f"arabic-docs-{uuid.uuid4().hex[:6]}"
    code, out = intaj("chatbot", "create", name, "--language", "ar")
    assert code == 0, out
    yield name
    with pool.connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))


@pytest.mark.parametrize(
    "file",
    [
        "rental-policy-libreoffice.pdf",
        "rental-policy-reshaped.pdf",
        "rental-policy.docx",
        "rental-policy.html",
    ],
    ids=["pdf-logical-order", "pdf-visual-order", "docx-rtl", "html-rtl"],
)
def test_an_arabic_question_is_answered_from_the_arabic_file_with_its_citation(
    arabic_chatbot: str, file: str
) -> None:
    code, out = intaj("ingest", str(FIXTURES / file), "--chatbot", arabic_chatbot, "--json")
    assert code == 0, out
    code, answer = intaj("ask", "--chatbot", arabic_chatbot, QUESTION, "--json")
    assert code == 0, answer
    assert not answer["abstained"], answer
    assert fold(FEE) in fold(answer["answer"])
    cited = answer["citations"][0]
    assert Path(cited["source"]).name == file
    assert fold(FEE) in fold(cited["snippet"])
    if file.endswith(".pdf"):
        assert cited["metadata"]["page"] == 1
