"""Storage that matches the database (``intaj storage gc``): what the local storage holds that
no data source needs any more, listed or removed.

The pipeline owns only its own copies: the files ``intaj ingest`` and ``intaj source add`` copy
into the local storage root (``settings.resolved_storage_root``) under server-made keys
``{chatbot_id}/{uuid}/{name}`` (:func:`pipeline.sources.registry.upload_key`). ``s3://`` and
``supabase://`` objects are the SaaS's uploads (DESIGN.md: "SaaS upload -> storage"; the seed's
``data_sources.path`` is "Supabase storage"): the pipeline reads them and never deletes them.
Nothing is stored for URL sources.

Two kinds of file go:
- an *orphan*: a file under a key of that shape that no ``data_sources`` row names (its source
  or its chatbot was deleted, or a killed write left a ``.part``);
- a *failed* source's bytes: its status has been ``failed`` for longer than
  ``INTAJ_STORAGE_KEEP_FAILED_HOURS`` (the time ``retry-failed`` has to re-run it from them) and
  it holds no chunks (a failed source still holding an earlier version's chunks is still
  searched, and ``intaj reembed`` rebuilds it from its bytes). The row stays, ``failed``; a
  retry then fails with ``source_missing`` until the file is uploaded again.

What is never removed: a file written in the last :data:`GRACE_SECONDS` (its row may not be
committed yet), anything not shaped like an upload key (a stranger's file in the folder),
symbolic links, and orphans when this database may not see every row (row-level security) or
when the storage root was last collected against another database (``.intaj-database``
records which; delete it once this database owns the folder).

Nothing runs this by itself (not ``intaj sweep``, not the listener): it deletes, it is only
right when the folder is this database's alone, and where the listener runs uploads usually
live in Supabase Storage, not in a local folder. Run ``intaj storage gc`` from cron.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from core.ids import is_uuid
from core.settings import Settings
from db import sources as sources_db

GRACE_SECONDS = 600.0
MARKER = ".intaj-database"


@dataclass(frozen=True)
class Stored:
    """One file the collection removes (or, on a dry run, would remove)."""

    path: str  # its storage key, relative to the root
    bytes: int
    reason: str  # "orphan" (no data source names it) or "failed" (past the retention)
    source_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "reason": self.reason,
                "source_id": self.source_id}  # fmt: skip


@dataclass
class Collection:
    storage_root: str
    dry_run: bool
    keep_failed_hours: float
    objects: list[Stored] = field(default_factory=list)
    kept_recent: int = 0  # files of either kind written within the grace: kept this time
    note: str | None = None  # why orphans were not looked for, when they were not

    @property
    def bytes(self) -> int:
        return sum(o.bytes for o in self.objects)

    def as_json(self) -> dict[str, Any]:
        return {
            "storage_root": self.storage_root, "dry_run": self.dry_run,
            "keep_failed_hours": self.keep_failed_hours,
            "objects": [o.as_json() for o in self.objects], "bytes": self.bytes,
            "kept_recent": self.kept_recent, "note": self.note,
        }  # fmt: skip


def collect(
    pool: ConnectionPool,
    settings: Settings,
    *,
    dry_run: bool = False,
    keep_failed_hours: float | None = None,
) -> Collection:
    """List (``dry_run``) or remove the local storage's orphans and the bytes of sources
    failed longer than ``keep_failed_hours`` (default: INTAJ_STORAGE_KEEP_FAILED_HOURS)."""
    hours = settings.storage_keep_failed_hours if keep_failed_hours is None else keep_failed_hours
    root = settings.resolved_storage_root
    result = Collection(str(root), dry_run, hours)
    if not root.is_dir():
        return result
    fresh_after = time.time() - GRACE_SECONDS
    files = dict(_upload_files(root))
    with pool.connection() as conn:
        result.note = _orphans_refused(conn, root, write_marker=not dry_run)
        named = sources_db.local_paths(conn) if result.note is None else set()
        failed = sources_db.expired_failed(conn, older_than_seconds=hours * 3600)
    if result.note is None:
        for key in sorted(files.keys() - {p.removeprefix("local://") for p in named}):
            size, mtime = files[key]
            if mtime > fresh_after:
                result.kept_recent += 1
            elif dry_run or _unlink(root, key):
                result.objects.append(Stored(key, size, "orphan"))
    for source_id, path in failed:
        key = path.removeprefix("local://")
        if key not in files:
            continue
        size, mtime = files[key]
        if mtime > fresh_after:
            result.kept_recent += 1
        elif dry_run or _remove_failed(pool, root, source_id, path, hours):
            result.objects.append(Stored(key, size, "failed", source_id))
    return result


def _upload_files(root: Path) -> list[tuple[str, tuple[int, float]]]:
    """(key, (size, mtime)) of every regular file under ``root`` whose key has the shape of an
    upload key, ``{uuid}/{uuid}/{name}``; links are not followed."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            key = path.relative_to(root).as_posix()
            parts = key.split("/")
            if len(parts) != 3 or not (is_uuid(parts[0]) and is_uuid(parts[1])):
                continue
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                found.append((key, (st.st_size, st.st_mtime)))
    return found


def _orphans_refused(conn: psycopg.Connection, root: Path, *, write_marker: bool) -> str | None:
    """Why orphans must not be looked for now (None: they may): this connection may not see
    every data source, or the storage root belongs to another database."""
    if not sources_db.sees_every_source(conn):
        return (
            "orphans not looked for: row-level security hides data sources from this database"
            " role, so files of rows it cannot see would look orphaned (connect as the owner"
            " or a BYPASSRLS role)"
        )
    identity = sources_db.database_identity(conn)
    marker = root / MARKER
    recorded = marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
    if recorded is None and write_marker:
        marker.write_text(identity + "\n", encoding="utf-8")
    if recorded is not None and recorded != identity:
        return (
            f"orphans not looked for: {root} was collected against another database"
            f" ({recorded}, this one is {identity}); its files may be that database's."
            f" Delete {marker} once this database owns the folder"
        )
    return None


def _remove_failed(
    pool: ConnectionPool, root: Path, source_id: str, path: str, hours: float
) -> bool:
    """Remove a failed source's file while its row is locked and still qualifies (a retry
    claiming it meanwhile waits, then finds the bytes gone)."""
    with pool.connection() as conn, conn.transaction():
        if not sources_db.lock_expired_failed(
            conn, source_id=source_id, path=path, older_than_seconds=hours * 3600
        ):
            return False
        return _unlink(root, path.removeprefix("local://"))


def _unlink(root: Path, key: str) -> bool:
    """Remove the file at ``key`` and the folders it leaves empty (never ``root``)."""
    path = root / key
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (another upload of the chatbot), or gone
            break
    return True
