"""A new home's embedded database is a copy of the machine's template cluster, not an initdb
(db/embedded_data.py): the server starts on it and serves pgvector, and a home that has a
cluster keeps it."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg

from db import embedded_data
from db.connection import embedded_url, stop_embedded


def _system_identifier(pgdata: Path) -> bytes:
    """The cluster's identity, chosen by initdb (the first field of its control file): a copy
    keeps it, a new initdb picks a new one."""
    return (pgdata / "global" / "pg_control").read_bytes()[:8]


def test_a_new_homes_database_is_the_template_and_serves_vectors(tmp_path: Path) -> None:
    template = embedded_data.build()  # scripts/setup's step; at once when it ran
    assert template is not None and (template / "PG_VERSION").exists()
    pgdata = tmp_path / "home" / "pgdata"
    url = embedded_url(pgdata)
    try:
        assert _system_identifier(pgdata) == _system_identifier(template)
        assert pgdata.stat().st_uid == template.stat().st_uid  # the server's own user, as root
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            row = conn.execute("SELECT '[3,4]'::vector <-> '[0,0]'::vector").fetchone()
        assert row == (5.0,)
    finally:
        stop_embedded(pgdata)
    assert not (template / "postmaster.pid").exists()  # the template itself never runs
    assert not list(pgdata.parent.glob(".pgdata.*.tmp"))


def test_two_commands_seeding_one_home_copy_it_once(tmp_path: Path) -> None:
    template = embedded_data.build()
    assert template is not None
    pgdata = tmp_path / "home" / "pgdata"
    copied: list[bool] = []
    threads = [
        threading.Thread(target=lambda: copied.append(embedded_data.seed(pgdata, template)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(copied) == [False, True]
    assert _system_identifier(pgdata) == _system_identifier(template)
    assert not list(pgdata.parent.glob(".pgdata.*.tmp"))


def test_a_home_with_a_cluster_keeps_it_and_no_template_means_initdb(tmp_path: Path) -> None:
    template = embedded_data.build()
    assert template is not None
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "PG_VERSION").write_text("18\n")
    assert not embedded_data.seed(mine, template)
    assert [p.name for p in mine.iterdir()] == ["PG_VERSION"]
    assert not embedded_data.seed(tmp_path / "new", tmp_path / "no-template")
    assert not (tmp_path / "new").exists()  # left to initdb
