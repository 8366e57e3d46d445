"""Disks fill up (test plan §6.4 R7).

(a) The storage root (uploads) is on a 1 MB file system: storing a bigger file fails with
    ``disk_full``, leaves no partial file and keeps the version stored before.
(b) The database's data directory is on a small file system that fills while a source is
    being embedded: the swap fails with ``disk_full`` on the source, the previous chunks stay
    and are still searchable, and once space is freed the next run succeeds. The write-ahead
    log lives on another disk, as it should in production: PostgreSQL stops (PANIC) when the
    WAL cannot grow, but only fails the transaction when a table cannot.
(c) The process may not write files over a size (``ulimit -f``, RLIMIT_FSIZE): storing a
    bigger file fails with ``source_too_large``, no partial file left.

(a) and (b) mount a tmpfs, which needs root; elsewhere they are skipped, saying so.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from core.errors import SourceError
from core.settings import Settings
from db import open_pool
from db.chatbots import Chatbot
from intaj.services import Context, register
from pipeline.embed import Embedder
from retrieval.search import search
from tests.fix_ingest import chunk_set, ingest_once, one_version, rewrite, version
from tests.fix_orchestration import ROOT, status_of, upload
from tests.fix_pgserver import OwnServer, own_server, scratch
from tests.knowledge import tenants


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A RAM-backed file system of ``size`` mounted on ``folder`` (skips without root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; run as root (as CI does) for R7")
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (a container without CAP_SYS_ADMIN?): "
                    f"{mount.stderr.strip()}")  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the ballast file."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for block in (1 << 20, 1 << 12):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return ballast


def test_a_full_storage_disk_fails_the_upload_and_keeps_the_stored_version(
    tmp_path: Path, settings: Settings, pool: ConnectionPool, make_chatbot: Callable[..., Chatbot]
) -> None:
    """(a) A re-upload bigger than the free space: a clear error, the old bytes kept."""
    with scratch("intaj-r7a-") as base, tmpfs(base / "storage", "1m") as root:
        ctx = Context(settings.model_copy(update={"storage_root": root}), pool)
        bot = make_chatbot()
        upload = tmp_path / "price-list.txt"
        upload.write_text("A day's rental of a city bike costs 25 dollars.\n")
        first = register(ctx, bot, str(upload))
        assert first.source is not None
        stored = root / first.source.path
        upload.write_bytes(b"A longer price list.\n" * 100_000)  # 2 MB
        with pytest.raises(SourceError) as caught:
            register(ctx, bot, str(upload))
        assert caught.value.code == "disk_full"
        assert "Free disk space" in caught.value.message
        assert stored.read_text() == "A day's rental of a city bike costs 25 dollars.\n"
        assert [p.name for p in root.rglob("*") if p.is_file()] == [stored.name]  # no .part


def test_a_file_size_limit_fails_the_write_and_leaves_no_partial_file(tmp_path: Path) -> None:
    """(c) Under ``ulimit -f`` (64 KB here) a 1 MB file is refused as too large."""
    child = textwrap.dedent(
        f"""
        import resource
        from pathlib import Path
        from core.errors import SourceError
        from pipeline.sources.local import LocalStorage

        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        try:
            LocalStorage(Path({str(tmp_path)!r})).write("bot/up/big.txt", b"x" * 1_000_000)
        except SourceError as e:
            print(e.code)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "source_too_large"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    """A server whose data directory is on a 48 MB tmpfs and whose WAL is on the normal disk."""
    with (
        scratch("intaj-r7-") as base,
        tmpfs(base / "disk", "48m") as disk,
        own_server(disk / "pgdata", waldir=base / "wal") as server,
    ):
        yield server


def test_a_full_database_disk_fails_the_swap_and_keeps_serving_the_old_version(
    server: OwnServer, settings: Settings, embedder: Embedder
) -> None:
    """(b) The database's disk fills while a source is being embedded."""
    own = settings.model_copy(update={"database_url": server.url, "parse_sandbox": False})
    db = open_pool(own)
    disk = server.pgdata.parent
    with tenants(db, "r7-shop") as (bot,):
        source_id = upload(db, own, bot.id, "rules.txt", version(1))
        assert ingest_once(db, own, embedder, source_id) is None
        before = chunk_set(db, source_id)
        rewrite(own, db, source_id, version(2, rules=24))  # more than the pages' free room
        ballast: list[Path] = []
        error = ingest_once(
            db, own, embedder, source_id, before_store=lambda: ballast.append(fill(disk))
        )
        assert error is not None and (error.code, error.transient) == ("disk_full", False)
        assert "out of disk space" in error.message and "Free space" in error.message
        assert status_of(db, source_id) == ("failed", "disk_full")
        assert chunk_set(db, source_id) == before
        hits = search(db, own, chatbot=bot, query="collected within 11 minutes", k=1)
        assert hits and hits[0].content.startswith("Revision 1")  # reads still work
        ballast[0].unlink()  # space freed
        assert ingest_once(db, own, embedder, source_id) is None
        after = chunk_set(db, source_id)
        assert one_version(after) and after[0][1].startswith("Revision 2")
        assert status_of(db, source_id) == ("ready", None)
