"""R10 poison queue (reliability-test-plan §6.4): hostile and good documents submitted
together in one `intaj ingest` run. Every good one is ingested, every hostile one fails alone
with its own error code and writes no chunk, and the process that ran them carries on.

The default run takes 10 + 10 files; the slow run 50 + 50."""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from tests.cli import intaj
from tests.test_hostile_more import P2_BOMBS, flate_bomb
from tests.test_ingest_hostile import xxe_docx
from tests.test_parse import make_docx, make_pdf
from tests.test_parse_hostile import declare_size, encrypted_pdf, minimal_docx, zip_with


def laughs_docx() -> bytes:
    with zipfile.ZipFile(io.BytesIO(make_docx())) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    xml = parts["word/styles.xml"]
    end = xml.index(b"?>") + 2
    parts["word/styles.xml"] = xml[:end] + b'<!DOCTYPE s [<!ENTITY a "aaaa">]>' + xml[end:]
    return zip_with(parts)


def overlapping_docx() -> bytes:
    data = bytearray(make_docx())
    first = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", first + 4)
    struct.pack_into("<I", data, second + 42, 0)
    return bytes(data)


# name -> (builder, the error code its source must end with)
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "locked.pdf": (lambda: encrypted_pdf("secret"), "password_protected"),
    "cut.pdf": (lambda: make_pdf([["Page one"], ["Page two"]])[:400], "unparseable_pdf"),
    "flate-bomb.pdf": (lambda: P2_BOMBS["content"](flate_bomb(b"BT ET\n")), "resource_limit"),
    "declared-bomb.docx": (
        lambda: declare_size(zip_with(minimal_docx()), "word/document.xml", 1 << 30),
        "archive_rejected",
    ),
    "overlap.docx": (overlapping_docx, "archive_rejected"),
    "xxe.docx": (xxe_docx, "doctype_forbidden"),
    "laughs.docx": (laughs_docx, "doctype_forbidden"),
    "empty-zip.docx": (lambda: zip_with({}), "unsupported_format"),
    "binary.txt": (lambda: bytes(range(256)) * 64, "unsupported_format"),
    "blank.pdf": (lambda: make_pdf([[]]), "no_text"),
}

TOPICS = ["helmets", "locks", "tyres", "brakes", "saddles", "lights", "bells", "baskets",
          "pumps", "chains"]  # fmt: skip


def good_files(count: int) -> dict[str, bytes]:
    return {
        f"good-{i:02d}.txt": (
            f"Northwind Bikes note {i}: the shop stocks {TOPICS[i % 10]} in aisle {i + 3}, and"
            f" staff fit them free of charge for customer number {1000 + i}.\n"
        ).encode()
        for i in range(count)
    }


def run_queue(tmp_path: Path, pool: ConnectionPool, copies: int) -> None:
    files: dict[str, tuple[bytes, str | None]] = {}
    for copy in range(copies):
        for name, (build, code) in HOSTILE.items():
            files[f"h{copy}-{name}"] = (build(), code)
    for name, data in good_files(10 * copies).items():
        files[name] = (data, None)
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    chatbot = f"poison-{uuid.uuid4().hex[:8]}"
    try:
        code, out = intaj("ingest", *(str(tmp_path / n) for n in files), "--chatbot", chatbot,
                          "--json")  # fmt: skip
        assert code == 1, out
        by_name = {Path(s["source"]).name: s for s in out["sources"]}
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT s.name, s.status, s.error_code, s.error,"
                " (SELECT count(*) FROM chunks k WHERE k.source_id = s.id)"
                " FROM data_sources s JOIN chatbots c ON c.id = s.chatbot_id WHERE c.name = %s",
                (chatbot,),
            ).fetchall()
        stored = {
            name: (status, code_, error, chunks) for name, status, code_, error, chunks in rows
        }
        assert len(stored) == len(files)
        for name, (_, expected) in files.items():
            status, error_code, error, chunks = stored[name]
            if expected is None:
                assert (status, by_name[name]["status"]) == ("ready", "ready"), (name, error)
                assert chunks >= 1, name
            else:
                assert (status, error_code) == ("failed", expected), (name, error_code, error)
                assert error and name in error, (name, error)  # the message names its file
                assert chunks == 0, name  # no partial chunks
        # The process that ran the queue still ingests.
        after = tmp_path / "after.txt"
        after.write_text("Ingested after the poison queue: tandem bikes rent by the hour.\n")
        code, out = intaj("ingest", str(after), "--chatbot", chatbot, "--json")
        assert code == 0 and out["sources"][0]["status"] == "ready", out
    finally:
        with pool.connection() as conn:
            conn.execute("DELETE FROM chatbots WHERE name = %s", (chatbot,))


def test_r10_ten_hostile_and_ten_good_documents_together(
    tmp_path: Path, pool: ConnectionPool, prefect_server: None
) -> None:
    run_queue(tmp_path, pool, copies=1)


@pytest.mark.slow
def test_r10_fifty_hostile_and_fifty_good_documents_together(
    tmp_path: Path, pool: ConnectionPool, prefect_server: None
) -> None:
    run_queue(tmp_path, pool, copies=5)
