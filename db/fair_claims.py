"""Fair claiming (issue 27; docs/orchestration.md, "Fair ingestion"): which pending sources
the upload trigger takes next when several owners wait.

Owners take turns: each pending source's *turn* is its rank among its owner's pending
sources (oldest first) plus the sources that owner already has processing; sources are claimed
by turn, then the owner served longest ago (its last claim in the hour), then age. So one
owner's 300-file backlog holds another owner's single file behind at most one of its own, not
behind all of them, even where sources run one at a time. At most ``max_in_flight`` sources
are processing at once (all owners: the workers' run slots, so the backlog waits here, in
``data_sources``, not in Prefect's queue) and at most ``owner_max_in_flight`` of one owner.
A transaction-scoped advisory lock makes concurrent listeners count the same slots."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from db.dispatch import NO_PLANS, Claim, claim_ids, refuse_over_plan, within_plan
from db.plans import PlanParams

_LOCK_KEY = 0x1A7A_0027


@dataclass(frozen=True, slots=True)
class Fairness:
    max_in_flight: int
    owner_max_in_flight: int


_NEXT = (
    "WITH owners AS (SELECT c.user_id, count(*) FILTER (WHERE d.status = 'processing') AS busy,"
    " max(d.claimed_at) AS served FROM data_sources d JOIN chatbots c ON c.id = d.chatbot_id"
    " WHERE d.status IN ('pending', 'processing') OR d.claimed_at > now() - interval '1 hour'"
    " GROUP BY c.user_id),"
    " ranked AS (SELECT d.id, d.created_at, o.served, coalesce(o.busy, 0) + row_number() OVER"
    " (PARTITION BY c.user_id ORDER BY d.created_at, d.id) AS turn"
    " FROM data_sources d JOIN chatbots c ON c.id = d.chatbot_id"
    " LEFT JOIN owners o ON o.user_id = c.user_id"
    " WHERE d.status = ANY(%(s)s) AND (%(c)s::uuid IS NULL OR d.chatbot_id = %(c)s::uuid)"
    "{within})"
    " SELECT id::text FROM ranked WHERE turn <= %(owner_max)s"
    " ORDER BY turn, served NULLS FIRST, created_at, id"
    " LIMIT least(%(n)s, greatest(%(max)s - (SELECT coalesce(sum(busy), 0) FROM owners), 0))"
)


def claim_next_fair(
    conn: psycopg.Connection,
    *,
    fairness: Fairness,
    limit: int,
    from_status: tuple[str, ...] = ("pending",),
    chatbot_id: str | None = None,
    plans: PlanParams | None = None,
) -> list[Claim]:
    """Claim up to ``limit`` sources in fair order, within the free slots (module doc); given
    ``plans``, those over their owner's plan are failed first (``refuse_over_plan``)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    if plans is not None:
        refuse_over_plan(conn, plans=plans, from_status=from_status)
    rows = conn.execute(
        _NEXT.format(within=within_plan("d")),
        {
            "s": list(from_status),
            "c": chatbot_id,
            "n": limit,
            "max": fairness.max_in_flight,
            "owner_max": fairness.owner_max_in_flight,
            **(plans.sql() if plans else NO_PLANS),
        },
    ).fetchall()
    if not rows:
        return []
    return claim_ids(conn, ids=[r[0] for r in rows], from_status=from_status)
