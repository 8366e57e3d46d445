"""Prefect's temporary server's database for a new PREFECT_HOME: a migrated, empty copy kept once
per machine and Prefect version (``INTAJ_MODEL_CACHE/prefect/<version>.db``, built by
``flows.startup.build_database_template``), copied into a home that has none, so a new home's
first server start does not migrate (flows/startup.py). Imports no Prefect."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from core.settings import get_settings

log = logging.getLogger(__name__)
DATABASE_URL_SETTINGS = (
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
)


def database_template() -> Path | None:
    """Where the migrated, empty database of this Prefect version is kept for new homes
    (``INTAJ_MODEL_CACHE/prefect/<version>.db``); None without Prefect installed."""
    try:
        prefect = version("prefect")
    except PackageNotFoundError:
        return None
    return get_settings().resolved_model_cache / "prefect" / f"{prefect}.db"


def copy_database(source: Path, target: Path) -> None:
    """A whole copy of a SQLite database (its write-ahead log included)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def seed_database(home: str, template: Path | None = None) -> bool:
    """A new PREFECT_HOME's database from ``template`` (default :func:`database_template`), when
    it has none and the server would use the default SQLite file there (no database URL set).
    Returns whether it copied one."""
    if any(os.environ.get(name) for name in DATABASE_URL_SETTINGS):
        return False
    target = Path(home).expanduser() / "prefect.db"
    template = template or database_template()
    if target.exists() or template is None or not template.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        shutil.copyfile(template, partial)
        os.replace(partial, target)
    except OSError as e:  # the server migrates a new database as before
        log.debug("could not copy Prefect's database template: %s", e)
        partial.unlink(missing_ok=True)
        return False
    return True


# A server's start on a database just copied from the template skips what the template's own
# build did already: migrating it (Prefect's version is in the template's name) and registering
# Prefect's block types (0.8 s of a new home's server start on the 2-core development machine,
# on the critical path of its first ingest). The next start on that home does both as usual.
ON_A_FRESH_COPY = {
    "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
}
