"""Storage that matches the database (issue #25, point 4): `intaj storage gc` removes the local
copies of deleted sources (the row gone, or its chatbot) and of sources failed for longer than
INTAJ_STORAGE_KEEP_FAILED_HOURS; its dry run lists exactly that and removes nothing; a ready
source's bytes, a recently failed one's, a failed one still holding chunks and a refused file
(which stores nothing) are as they were. Real files in a real storage folder (each test its
own), real rows, the real CLI; sources fail in the real pipeline."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from core.settings import get_settings
from db import sources as sources_db
from pipeline.sources import fetch, storage_for
from pipeline.sources.gc import MARKER
from tests import fix_s3
from tests.cli import intaj

moto_endpoint = fix_s3.moto_endpoint

HOUR = 3600.0
TEXT = (
    "Northwind Bikes repairs punctures while you wait. A full service takes two days and"
    " includes new brake pads, a chain clean and a wheel truing check.\n\n"
    "The workshop opens at eight in the morning and closes at six in the evening."
)
BROKEN_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer garbage\n"


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Path]:
    """A storage root of the test's own (INTAJ_STORAGE_ROOT), so gc sees only its files."""
    root = tmp_path / "storage"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTAJ_STORAGE_ROOT", str(root))
        get_settings.cache_clear()
        yield root
    get_settings.cache_clear()


@pytest.fixture
def chatbots(pool: ConnectionPool) -> Iterator[list[str]]:
    """Names for the test's chatbots (the CLI creates them), deleted afterwards."""
    names = [f"gc-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield names
    with pool.connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE name = ANY(%s)", (names,))


def stored(root: Path) -> dict[str, int]:
    """Every file under the storage root (but gc's marker): key -> size."""
    return {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and p.name != MARKER
    }


def age(root: Path, key: str, hours: float = 200) -> None:
    """Make the stored file look written ``hours`` ago."""
    then = time.time() - hours * HOUR
    os.utime(root / key, (then, then))


def failed_since(pool: ConnectionPool, source_id: str, hours: float) -> None:
    with pool.connection() as conn:
        conn.execute(
            "UPDATE data_sources SET updated_at = now() - make_interval(hours => %s) WHERE id = %s",
            (hours, source_id),
        )


def add(tmp_path: Path, chatbot: str, name: str, text: str = TEXT) -> tuple[str, str]:
    """`intaj source add` a new file: (source id, storage key)."""
    file = tmp_path / "uploads" / uuid.uuid4().hex / name
    file.parent.mkdir(parents=True)
    file.write_text(text, encoding="utf-8")
    code, out = intaj("source", "add", str(file), "--chatbot", chatbot, "--json")
    assert code == 0, out
    return out["id"], out["path"]


def gc(*args: str) -> dict[str, Any]:
    code, out = intaj("storage", "gc", "--json", *args)
    assert code == 0, out
    assert isinstance(out, dict), out
    return out


def listed(out: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(o["path"], o["reason"], o["source_id"]) for o in out["objects"]}


def test_failed_and_deleted_sources_leave_no_bytes_and_the_dry_run_lists_them(
    storage: Path, chatbots: list[str], pool: ConnectionPool, tmp_path: Path, prefect_server: None
) -> None:
    bot, other = chatbots
    files = {}
    for name, data in [
        ("ready.txt", TEXT.encode()),
        ("was-ready.txt", TEXT.replace("two days", "three days").encode()),
        ("old-failure.pdf", BROKEN_PDF),
        ("new-failure.pdf", BROKEN_PDF + b"%new\n"),
    ]:
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    code, out = intaj("ingest", *map(str, files.values()), "--chatbot", bot, "--json")
    assert code == 1, out
    rows = {Path(s["source"]).name: s for s in out["sources"]}
    assert [rows[n]["status"] for n in files] == ["ready", "ready", "failed", "failed"], rows
    with pool.connection() as conn:
        sources = {s.name: s for s in sources_db.list_for(conn, chatbot_id=out["chatbot"])}
        # as a failed re-ingestion leaves a ready source: failed, its earlier chunks kept
        sources_db.mark_failed(
            conn, source_id=sources["was-ready.txt"].id, code="worker_lost", error="lost"
        )
    deleted_id, deleted = add(tmp_path, bot, "deleted.txt")
    _, of_deleted_chatbot = add(tmp_path, other, "chatbot-deleted.txt")
    with pool.connection() as conn:
        assert sources_db.delete(conn, source_id=deleted_id)
        conn.execute("DELETE FROM chatbots WHERE name = %s", (other,))
    for key in stored(storage):  # every file was written long ago ...
        age(storage, key)
    for name in ("ready.txt", "was-ready.txt", "old-failure.pdf"):  # ... and so were the rows
        failed_since(pool, sources[name].id, 200)
    old_failure = sources["old-failure.pdf"]
    expected = {
        (old_failure.path, "failed", old_failure.id),
        (deleted, "orphan", None),
        (of_deleted_chatbot, "orphan", None),
    }
    before = stored(storage)
    assert {old_failure.path, deleted, of_deleted_chatbot} < before.keys()

    dry = gc("--dry-run")
    assert dry["dry_run"] is True and listed(dry) == expected
    assert dry["bytes"] == sum(before[path] for path, _, _ in expected)
    assert stored(storage) == before  # nothing removed
    code, text = intaj("storage", "gc", "--dry-run")
    assert code == 0 and "nothing removed" in text
    assert all(f"would remove  {reason}" in text and path in text for path, reason, _ in expected)
    assert stored(storage) == before

    done = gc()
    assert done["dry_run"] is False and listed(done) == expected
    assert done["bytes"] == dry["bytes"] > 0
    left = {path: size for path, size in before.items() if path not in {p for p, _, _ in expected}}
    assert stored(storage) == left
    keep = ("ready.txt", "was-ready.txt", "new-failure.pdf")
    assert set(left) == {sources[name].path for name in keep}
    for path, _, _ in expected:  # no empty folder is left for the removed upload either
        assert not (storage / path).parent.exists()
    with pool.connection() as conn:  # the failed source is still listed, failed
        still = sources_db.get(conn, source_id=old_failure.id)
    assert still is not None and still.status == "failed"
    assert listed(gc()) == set() and stored(storage) == left


def test_a_refused_file_leaves_nothing(storage: Path, chatbots: list[str], tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text(TEXT * 10, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTAJ_MAX_FILE_BYTES", "100")
        get_settings.cache_clear()
        code, out = intaj("source", "add", str(big), "--chatbot", chatbots[0])
        assert code == 1 and "over the limit" in out
        code, out = intaj("ingest", str(big), "--chatbot", chatbots[0], "--json")
        assert code == 1 and out["sources"][0]["status"] == "failed"
    get_settings.cache_clear()
    assert not storage.exists() or list(storage.rglob("*")) == []


def test_retention_is_the_setting_or_the_option(
    storage: Path, chatbots: list[str], pool: ConnectionPool, tmp_path: Path
) -> None:
    source_id, key = add(tmp_path, chatbots[0], "failed.txt")
    with pool.connection() as conn:
        sources_db.mark_failed(conn, source_id=source_id, code="parse_failed", error="bad")
    failed_since(pool, source_id, 2)
    age(storage, key, 3)
    assert gc()["objects"] == [] and key in stored(storage)  # 168 hours by default
    assert listed(gc("--keep-failed-hours", "1", "--dry-run")) == {(key, "failed", source_id)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTAJ_STORAGE_KEEP_FAILED_HOURS", "1")
        get_settings.cache_clear()
        done = gc()
    assert done["keep_failed_hours"] == 1 and listed(done) == {(key, "failed", source_id)}
    assert stored(storage) == {}


def test_what_gc_never_removes(
    storage: Path, chatbots: list[str], pool: ConnectionPool, tmp_path: Path
) -> None:
    bot = chatbots[0]
    fresh_id, fresh = add(tmp_path, bot, "just-deleted.txt")  # written seconds ago
    prefixed_id, prefixed = add(tmp_path, bot, "prefixed.txt")
    with pool.connection() as conn:
        sources_db.delete(conn, source_id=fresh_id)
        sources_db.set_path(conn, source_id=prefixed_id, path=f"local://{prefixed}")
    age(storage, prefixed)
    strangers = ["notes.txt", f"{uuid.uuid4()}/notes.txt", f"a/{uuid.uuid4()}/b/c.txt"]
    for key in strangers:  # not shaped like an upload key: not the pipeline's
        (storage / key).parent.mkdir(parents=True, exist_ok=True)
        (storage / key).write_text("mine", encoding="utf-8")
        age(storage, key)
    before = stored(storage)
    done = gc("--keep-failed-hours", "0")
    assert done["objects"] == [] and done["kept_recent"] == 1
    assert stored(storage) == before and fresh in before
    code, text = intaj("storage", "gc")
    assert code == 0 and "kept 1 files written in the last 10 minutes" in text


def test_the_saas_objects_in_object_storage_are_never_deleted(
    storage: Path,
    chatbots: list[str],
    pool: ConnectionPool,
    tmp_path: Path,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fix_s3.bucket(moto_endpoint, "saas-uploads", tmp_path, monkeypatch) as s3:
        for name in ("endpoint_url", "region", "access_key_id"):
            monkeypatch.setenv(f"INTAJ_S3_{name.upper()}", str(getattr(s3, f"s3_{name}")))
        monkeypatch.setenv("INTAJ_S3_SECRET_ACCESS_KEY", "testing")
        get_settings.cache_clear()
        source_id, key = add(tmp_path, chatbots[0], "upload.txt")
        remote = f"s3://saas-uploads/{key}"
        storage_for(remote, s3).write(remote, TEXT.encode())
        with pool.connection() as conn:  # the source is the SaaS's object, failed long ago
            sources_db.set_path(conn, source_id=source_id, path=remote)
            sources_db.mark_failed(conn, source_id=source_id, code="parse_failed", error="x")
        failed_since(pool, source_id, 1000)
        (storage / key).unlink()  # no local copy either
        assert gc("--keep-failed-hours", "0")["objects"] == []
        assert fetch(remote, s3).data == TEXT.encode()


def test_orphans_of_another_databases_storage_are_kept(
    storage: Path, chatbots: list[str], pool: ConnectionPool, tmp_path: Path
) -> None:
    source_id, key = add(tmp_path, chatbots[0], "orphan.txt")
    with pool.connection() as conn:
        sources_db.delete(conn, source_id=source_id)
    age(storage, key)
    (storage / MARKER).write_text("1234/another\n", encoding="utf-8")
    done = gc()
    assert done["objects"] == [] and "another database" in done["note"]
    assert key in stored(storage)
    code, text = intaj("storage", "gc")
    assert code == 0 and "another database" in text
    (storage / MARKER).unlink()  # this database owns the folder now
    assert listed(gc()) == {(key, "orphan", None)} and stored(storage) == {}
    assert (storage / MARKER).read_text(encoding="utf-8").strip() != "1234/another"
