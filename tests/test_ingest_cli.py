"""The first end-to-end path, as a user runs it: `intaj ingest` the sample documents, then
`intaj search` finds sentences from a PDF page, a DOCX table cell and an HTML paragraph."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from db import chunks as chunks_db
from tests.cli import intaj
from tests.conftest import EXAMPLES

PDF = EXAMPLES / "northwind-handbook.pdf"
DOCX = EXAMPLES / "northwind-policies.docx"
HTML = EXAMPLES / "northwind-about.html"
PAGE_2 = (
    "Every returned rental helmet spends ten minutes in a UV cleaning cabinet"
    " before it goes back on the wall."
)
TABLE_CELL = (
    "We strip the bike down to the bare frame, clean every part by hand,"
    " and rebuild it with new cables and housing."
)
HTML_PARAGRAPH = (
    "Marta Okafor opened the first Northwind Bikes workshop in a converted ferry ticket"
    " office on Harbour Street in 2009."
)


def delete_chatbot(pool: ConnectionPool, name: str) -> None:
    with pool.connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))


@pytest.fixture(scope="module")
def demo(pool: ConnectionPool, prefect_server: None) -> Iterator[tuple[str, dict[str, Any]]]:
    name = f"demo-{uuid.uuid4().hex[:6]}"
    code, out = intaj("ingest", str(PDF), str(DOCX), str(HTML), "--chatbot", name, "--json")
    assert code == 0, out
    yield name, out
    delete_chatbot(pool, name)


def test_ingest_reports_every_source_ready(demo: tuple[str, dict[str, Any]]) -> None:
    _, out = demo
    assert [s["status"] for s in out["sources"]] == ["ready"] * 3
    assert all(s["chunks"] > 0 and s["embedded"] == s["chunks"] for s in out["sources"])
    assert [Path(s["source"]).name for s in out["sources"]] == [PDF.name, DOCX.name, HTML.name]


@pytest.mark.parametrize(
    ("sentence", "file", "page"),
    [(PAGE_2, PDF, 2), (TABLE_CELL, DOCX, None), (HTML_PARAGRAPH, HTML, None)],
    ids=["pdf-page-2", "docx-table-cell", "html-paragraph"],
)
def test_search_finds_the_sentence_in_its_source(
    demo: tuple[str, dict[str, Any]], sentence: str, file: Path, page: int | None
) -> None:
    name, _ = demo
    code, hits = intaj("search", "--chatbot", name, sentence, "-k", "3", "--json")
    assert code == 0
    top = hits[0]
    assert top["source"].endswith("/" + file.name)
    assert sentence in " ".join(top["content"].split())
    if page is not None:
        assert top["metadata"]["page"] == page


def test_docx_table_rows_keep_their_headings(demo: tuple[str, dict[str, Any]]) -> None:
    name, _ = demo
    _, hits = intaj("search", "--chatbot", name, TABLE_CELL, "-k", "1", "--json")
    assert hits[0]["metadata"].get("headings")


def test_ingesting_again_embeds_nothing(
    demo: tuple[str, dict[str, Any]], pool: ConnectionPool
) -> None:
    name, first = demo
    with pool.connection() as conn:
        before = chunks_db.count(conn, chatbot_id=first["chatbot"])
    code, again = intaj("ingest", str(PDF), str(DOCX), str(HTML), "--chatbot", name, "--json")
    with pool.connection() as conn:
        after = chunks_db.count(conn, chatbot_id=first["chatbot"])
    assert code == 0
    assert again["chatbot"] == first["chatbot"]
    assert [s["embedded"] for s in again["sources"]] == [0, 0, 0]
    assert [s["reused"] for s in again["sources"]] == [s["chunks"] for s in first["sources"]]
    assert after == before
    with pool.connection() as conn:  # each unchanged source's run is recorded as skipped
        skipped = conn.execute(
            "SELECT s.path, r.chunks, r.reused, r.embedded, r.finished_at IS NOT NULL"
            " FROM ingestion_runs r JOIN data_sources s ON s.id = r.source_id"
            " WHERE r.chatbot_id = %s AND r.status = 'skipped'",
            (first["chatbot"],),
        ).fetchall()
    assert sorted(skipped) == sorted(
        (s["source"], s["chunks"], s["chunks"], 0, True) for s in first["sources"]
    )


def test_bad_files_fail_alone_with_clear_errors(
    tmp_path: Path, pool: ConnectionPool, prefect_server: None
) -> None:
    corrupt = tmp_path / "broken.pdf"
    corrupt.write_bytes(PDF.read_bytes()[:900])
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    unsupported = tmp_path / "program.exe"
    unsupported.write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 8)
    good = tmp_path / "notes.txt"
    good.write_text("Northwind Bikes lends free child seats with every family rental.\n")
    name = f"bad-{uuid.uuid4().hex[:6]}"
    try:
        code, out = intaj(
            "ingest",
            str(corrupt),
            str(empty),
            str(unsupported),
            str(good),
            "--chatbot",
            name,
            "--json",
        )
        by_name = {Path(s["source"]).name: s for s in out["sources"]}
        assert code == 1
        assert by_name["notes.txt"]["status"] == "ready"
        assert by_name["notes.txt"]["chunks"] == 1
        for bad in ("broken.pdf", "empty.txt", "program.exe"):
            assert by_name[bad]["status"] == "failed"
            assert by_name[bad]["error"]
        assert (
            "empty" in by_name["empty.txt"]["error"].lower()
            or "no text" in by_name["empty.txt"]["error"].lower()
        )
        assert "pdf" in by_name["broken.pdf"]["error"].lower()
        assert "support" in by_name["program.exe"]["error"].lower()
        code, listed = intaj("source", "list", "--chatbot", name, "--json")
        errors = {Path(s["path"]).name: s["error"] for s in listed}
        assert errors["notes.txt"] is None
        assert errors["broken.pdf"] == by_name["broken.pdf"]["error"]
    finally:
        delete_chatbot(pool, name)


def test_failed_reingestion_keeps_the_previous_chunks(
    tmp_path: Path, pool: ConnectionPool, prefect_server: None
) -> None:
    doc = tmp_path / "opening-hours.txt"
    doc.write_text("The Riverside shop opens at nine and closes at six, Tuesday to Sunday.\n")
    name = f"keep-{uuid.uuid4().hex[:6]}"
    try:
        code, _ = intaj("ingest", str(doc), "--chatbot", name, "--json")
        assert code == 0
        doc.write_bytes(b"")  # the re-upload is broken
        code, second = intaj("ingest", str(doc), "--chatbot", name, "--json")
        assert code == 1
        assert second["sources"][0]["status"] == "failed"
        code, hits = intaj("search", "--chatbot", name, "When does Riverside open?", "--json")
        assert "opens at nine" in hits[0]["content"]
    finally:
        delete_chatbot(pool, name)


def test_missing_file_is_reported_not_fatal(pool: ConnectionPool, prefect_server: None) -> None:
    name = f"missing-{uuid.uuid4().hex[:6]}"
    try:
        code, out = intaj("ingest", "/nonexistent/file.pdf", str(HTML), "--chatbot", name, "--json")
        assert code == 1
        assert [s["status"] for s in out["sources"]] == ["failed", "ready"]
        assert "no such file" in out["sources"][0]["error"]
    finally:
        delete_chatbot(pool, name)
