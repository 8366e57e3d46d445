"""Fair claiming (issue 27; db/fair_claims.py): with one owner's backlog pending, another
owner's new source is claimed at the next free slot, not after the backlog; never more than
the slots are processing, even with listeners racing; a finished source wakes the trigger.
Each test has a database of its own (the counts are of every owner in it)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from db import chatbots as chatbots_db
from db import dispatch as dispatch_db
from db import migrate
from db.connection import connect
from db.fair_claims import Fairness, claim_next_fair


@pytest.fixture
def url(fresh_database: str) -> Iterator[str]:
    with connect(fresh_database, autocommit=True) as conn:
        migrate.upgrade(conn)
    yield fresh_database


def owner_with_sources(url: str, name: str, count: int) -> list[str]:
    """A new owner, a chatbot and ``count`` pending sources, oldest first."""
    with connect(url) as conn:
        owner = chatbots_db.create_profile(conn, name=name, email=f"{name}-{uuid.uuid4()}@t.t")
        bot = chatbots_db.create(conn, user_id=owner, name=name)
        ids = [
            str(conn.execute(
                "INSERT INTO data_sources (chatbot_id, type, path, created_at) VALUES"
                " (%s, 'txt', %s, clock_timestamp()) RETURNING id", (bot.id, f"{name}/{i}.txt"),
            ).fetchone()[0])  # type: ignore[index]
            for i in range(count)
        ]  # fmt: skip
        conn.commit()
    return ids


def claim(url: str, fairness: Fairness, limit: int = 50) -> list[str]:
    with connect(url) as conn:
        claims = claim_next_fair(conn, fairness=fairness, limit=limit)
        conn.commit()
    return [c.source_id for c in claims]


def finish(url: str, source_id: str) -> None:
    with connect(url) as conn:
        conn.execute("UPDATE data_sources SET status = 'ready' WHERE id = %s", (source_id,))
        conn.commit()


def test_a_new_owner_is_next_not_behind_a_backlog(url: str) -> None:
    backlog = owner_with_sources(url, "a", 30)
    (single,) = owner_with_sources(url, "b", 1)
    two = Fairness(max_in_flight=2, owner_max_in_flight=2)
    assert sorted(claim(url, two)) == sorted([backlog[0], single])  # one each, by turn
    assert claim(url, two) == []  # both slots taken
    finish(url, single)
    assert claim(url, two) == [backlog[1]]
    with connect(url) as conn:  # first come, first served: the backlog first
        fifo = dispatch_db.claim_next(conn, limit=2)
    assert [c.source_id for c in fifo] == backlog[2:4]


def test_one_at_a_time_the_owners_take_turns(url: str) -> None:
    backlog = owner_with_sources(url, "a", 5)
    one = Fairness(max_in_flight=1, owner_max_in_flight=1)
    assert claim(url, one) == [backlog[0]]
    (single,) = owner_with_sources(url, "b", 1)  # while A's first runs
    finish(url, backlog[0])
    assert claim(url, one) == [single]  # B, served never, before A's second
    finish(url, single)
    assert claim(url, one) == [backlog[1]]


def test_one_owner_alone_uses_at_most_its_share_of_the_slots(url: str) -> None:
    backlog = owner_with_sources(url, "a", 10)
    assert sorted(claim(url, Fairness(max_in_flight=4, owner_max_in_flight=3))) == sorted(
        backlog[:3]
    )
    (late,) = owner_with_sources(url, "b", 1)
    assert claim(url, Fairness(max_in_flight=4, owner_max_in_flight=3)) == [late]


def test_racing_listeners_never_pass_the_slots(url: str) -> None:
    for name in ("a", "b", "c"):
        owner_with_sources(url, name, 10)
    fair, start, claimed = Fairness(3, 3), threading.Barrier(8), []

    def listener() -> None:
        start.wait()
        claimed.extend(claim(url, fair, limit=3))

    threads = [threading.Thread(target=listener) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == len(set(claimed)) == 3
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM data_sources WHERE status = 'processing'")
        assert row.fetchone() == (3,)


def test_a_finished_source_wakes_the_trigger(url: str) -> None:
    (source,) = owner_with_sources(url, "a", 1)
    with psycopg.connect(url, autocommit=True) as listening:
        listening.execute(f"LISTEN {dispatch_db.CHANNEL}")
        (claimed,) = claim(url, Fairness(1, 1))
        finish(url, claimed)
        notes = [n.payload for n in listening.notifies(timeout=5, stop_after=1)]
    assert notes == [f"done:{source}"]
