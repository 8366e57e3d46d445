"""A new PREFECT_HOME starts from the migrated template (flows/prefect_home.py) only when it has
no database of its own and no database URL points elsewhere."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from flows import prefect_home


@pytest.fixture
def template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache" / "prefect" / "1.0.db"
    path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES ('head')")
        conn.commit()
    for name in prefect_home.DATABASE_URL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return path


def _version(database: Path) -> str:
    with closing(sqlite3.connect(database)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0])


def test_a_new_home_gets_a_copy_of_the_template(template: Path, tmp_path: Path) -> None:
    assert prefect_home.seed_database(str(tmp_path / "home"), template)
    assert _version(tmp_path / "home" / "prefect.db") == "head"
    assert not list((tmp_path / "home").glob("*.tmp"))


def test_a_home_with_a_database_keeps_it(template: Path, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "prefect.db").write_bytes(b"mine")
    assert not prefect_home.seed_database(str(tmp_path / "home"), template)
    assert (tmp_path / "home" / "prefect.db").read_bytes() == b"mine"


def test_a_database_url_elsewhere_means_no_copy(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://x/prefect")
    prefect_home.seed_database(str(tmp_path / "home"), template)
    assert not (tmp_path / "home" / "prefect.db").exists()


def test_the_copy_holds_what_is_still_in_the_write_ahead_log(tmp_path: Path) -> None:
    source = tmp_path / "live.db"
    writer = sqlite3.connect(source)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.commit()  # committed, not checkpointed: the row sits in live.db-wal
    prefect_home.copy_database(source, tmp_path / "copy.db")
    writer.close()
    with closing(sqlite3.connect(tmp_path / "copy.db")) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
