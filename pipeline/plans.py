"""Plans: what an owner may have and do, by ``profiles.subscription`` (free, pro, business;
the limits are settings, core/settings_plans.py; docs/plans.md).

Every place where work enters checks here before it writes: registration (a new source or new
bytes: :meth:`Guard.source`), chatbots, widgets and WhatsApp connections (:meth:`Guard.count`)
inside :func:`guarded`, one transaction that holds the owner's row lock until the caller's
insert commits; messages by :func:`count_message` (one conditional upsert). Over a limit: a
:class:`core.errors.PlanLimitError` naming the limit, the usage and the plan, before anything
is written. The upload trigger's claim applies the same limits in SQL (db/dispatch.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from core.errors import NotFoundError, PlanLimitError
from core.settings import Settings
from core.settings_plans import PlanLimits
from db import plans as plans_db
from db.plans import ChatbotUsage, Owner, OwnerUsage, PlanParams

T = TypeVar("T")

UNLIMITED = PlanLimits()
# What each limit counts, and what to do besides upgrading.
NOUNS = {
    "chatbots": ("chatbots", "delete a chatbot"),
    "sources_per_chatbot": ("data sources per chatbot", "delete sources"),
    "bytes_per_chatbot": ("stored bytes per chatbot", "delete sources"),
    "file_bytes": ("bytes in one file", "upload a smaller file"),
    "messages_per_month": ("messages a month", "wait for next month"),
    "widgets": ("website widgets", "remove a widget"),
    "whatsapp_connections": ("WhatsApp connections", "remove a connection"),
}
OWNER_LIMITS = ("chatbots", "widgets", "whatsapp_connections")


@dataclass(frozen=True, slots=True)
class Plan:
    name: str  # the subscription, or "none" (the local profile without INTAJ_LOCAL_PLAN)
    limits: PlanLimits


def plan_of(settings: Settings, owner: Owner) -> Plan:
    name = settings.local_plan if owner.local else owner.subscription
    if name is None:
        return Plan("none", UNLIMITED)
    return Plan(name, settings.plans.get(name, UNLIMITED))


def params(settings: Settings) -> PlanParams:
    """The plans for the claim's SQL (``intaj_over_plan``)."""
    dumped = {name: limits.model_dump() for name, limits in settings.plans.items()}
    return PlanParams(dumped, settings.local_plan)


def refusal(plan: Plan, limit: str, usage: int, allowed: int, *, extra: int = 1) -> PlanLimitError:
    noun, advice = NOUNS[limit]
    asked = f"; this adds {extra}" if extra != 1 else ""
    used = f"the file has {usage}" if limit == "file_bytes" else f"in use: {usage}{asked}"
    return PlanLimitError(
        f"over the {plan.name} plan's limit of {allowed} {noun} ({used}):"
        f" upgrade the plan or {advice}",
        limit=limit, usage=usage, allowed=allowed, plan=plan.name,
    )  # fmt: skip


def refused_by(reason: dict[str, Any]) -> PlanLimitError:
    """The error of a refusal the database made (``intaj_over_plan``; db/dispatch.py)."""
    return PlanLimitError(
        str(reason["message"]), limit=str(reason["limit"]), usage=int(reason["usage"]),
        allowed=int(reason["allowed"]), plan=str(reason["plan"]),
    )  # fmt: skip


def admit(pool: ConnectionPool, settings: Settings, *, source_id: str) -> None:
    """A pending source made outside our registration (the SaaS inserted it): failed with
    ``plan_limit`` and refused when it is over its owner's plan (as the claim would)."""
    from db import dispatch as dispatch_db

    with pool.connection() as conn:
        refused = dispatch_db.refuse_over_plan(conn, plans=params(settings), source_ids=[source_id])
    if refused:
        raise refused_by(refused[0][1])


def refuse_unclaimed(
    pool: ConnectionPool, settings: Settings, *, source_ids: list[str]
) -> dict[str, PlanLimitError]:
    """Of ``source_ids``, those no claim has admitted (``pending`` or ``failed``: a flow run
    started from the Prefect UI, or by hand) and over their owner's plan, failed with
    ``plan_limit`` as the claim would fail them; ``{source id: its error}``."""
    from db import dispatch as dispatch_db

    with pool.connection() as conn:
        refused = dispatch_db.refuse_over_plan(
            conn, plans=params(settings), source_ids=source_ids, from_status=("pending", "failed")
        )
    return {source_id: refused_by(reason) for source_id, reason in refused}


def check(plan: Plan, limit: str, usage: int, *, extra: int = 1) -> None:
    """Refuse when ``usage + extra`` passes the plan's ``limit``."""
    allowed = getattr(plan.limits, limit)
    if allowed is not None and usage + extra > allowed:
        raise refusal(plan, limit, usage, allowed, extra=extra)


@dataclass(frozen=True)
class Guard:
    """The owner's row is locked: what the caller inserts in ``conn`` is counted by the next
    check, which waits for this transaction."""

    conn: psycopg.Connection
    owner: Owner
    plan: Plan

    def count(self, limit: str) -> None:
        """One more chatbot, widget or WhatsApp connection (``limit``) of the owner."""
        usage = plans_db.owner_usage(self.conn, user_id=self.owner.id)
        check(self.plan, limit, getattr(usage, limit))

    def source(self, chatbot_id: str, *, size: int | None, replacing: str | None = None) -> None:
        """A new source of ``chatbot_id`` of ``size`` bytes (None: not known yet, a URL), or
        new bytes for its source ``replacing``."""
        used = plans_db.chatbot_usage(self.conn, chatbot_id=chatbot_id, excluding=replacing)
        if replacing is None:
            check(self.plan, "sources_per_chatbot", used.sources)
        if size is not None:
            largest = self.plan.limits.file_bytes
            if largest is not None and size > largest:
                raise refusal(self.plan, "file_bytes", size, largest, extra=0)
            check(self.plan, "bytes_per_chatbot", used.bytes, extra=size)


@contextmanager
def guarded(pool: ConnectionPool, settings: Settings, *, user_id: str) -> Iterator[Guard]:
    """A transaction holding ``user_id``'s row lock: check, then insert, in the block; the
    insert commits as the block ends (a refusal rolls everything back)."""
    with pool.connection() as conn, conn.transaction():
        owner = plans_db.lock_owner(conn, user_id=user_id)
        if owner is None:
            raise NotFoundError(f"no profile {user_id}: create the owner's profile first")
        yield Guard(conn, owner, plan_of(settings, owner))


def count_message(pool: ConnectionPool, settings: Settings, *, user_id: str) -> None:
    """Count one message of the owner this month, or refuse it when the month's are used."""
    with pool.connection() as conn:
        owner = plans_db.owner(conn, ref=user_id)
        if owner is None:
            return  # a chatbot whose profile is gone answers nothing anyway
        plan = plan_of(settings, owner)
        allowed = plan.limits.messages_per_month
        if plans_db.reserve_message(conn, user_id=owner.id, allowed=allowed):
            return
        used = plans_db.owner_usage(conn, user_id=owner.id).messages_this_month
    assert allowed is not None
    raise refusal(plan, "messages_per_month", used, allowed)


def counted(
    pool: ConnectionPool,
    settings: Settings,
    *,
    user_id: str,
    events: Iterator[T],
    answered: Callable[[T], bool],
) -> Iterator[T]:
    """``events`` (an answer's) as one message of the owner this month: counted first (refused
    over the plan), given back if they end before ``answered`` holds for one: an outage, the
    database lost, a client gone mid-stream before the conversation was recorded. The owner
    pays for answers, not for outages."""
    count_message(pool, settings, user_id=user_id)
    done = False
    try:
        for event in events:
            done = done or answered(event)
            yield event
    except BaseException:
        if not done:
            uncount_message(pool, user_id=user_id)
        raise


def uncount_message(pool: ConnectionPool, *, user_id: str) -> None:
    """Give back a message :func:`count_message` counted whose answer then failed."""
    with pool.connection() as conn:
        owner = plans_db.owner(conn, ref=user_id)
        if owner is not None:
            plans_db.release_message(conn, user_id=owner.id)


@dataclass(frozen=True)
class Usage:
    """An owner's use of their plan: what ``intaj usage`` and the playground show."""

    owner: Owner
    plan: Plan
    totals: OwnerUsage
    chatbots: list[tuple[str, str, ChatbotUsage]]  # (id, name, usage)


def usage(pool: ConnectionPool, settings: Settings, *, ref: str) -> Usage:
    """The usage of the owner ``ref`` (a profile id or email)."""
    from db import chatbots as chatbots_db

    with pool.connection() as conn:
        owner = plans_db.owner(conn, ref=ref)
        if owner is None:
            raise NotFoundError(f"no owner {ref!r}: give a profile id or email")
        totals = plans_db.owner_usage(conn, user_id=owner.id)
        bots = chatbots_db.list_for(conn, user_id=owner.id)
        each = [(b.id, b.name, plans_db.chatbot_usage(conn, chatbot_id=b.id)) for b in bots]
    return Usage(owner, plan_of(settings, owner), totals, each)


def usage_json(found: Usage) -> dict[str, Any]:
    """What ``intaj usage --json`` prints and the playground shows: each limit's use and
    number (``allowed`` None: no limit)."""
    limits = found.plan.limits

    def pair(used: int | None, name: str) -> dict[str, Any]:
        return {"used": used, "allowed": getattr(limits, name)}

    totals = found.totals
    return {
        "owner": found.owner.id,
        "plan": found.plan.name,
        "limits": {
            "chatbots": pair(totals.chatbots, "chatbots"),
            "messages_per_month": pair(totals.messages_this_month, "messages_per_month"),
            "widgets": pair(totals.widgets, "widgets"),
            "whatsapp_connections": pair(totals.whatsapp_connections, "whatsapp_connections"),
            "file_bytes": pair(None, "file_bytes"),
        },
        "chatbots": [
            {
                "id": bot_id,
                "name": name,
                "sources_per_chatbot": pair(used.sources, "sources_per_chatbot"),
                "bytes_per_chatbot": pair(used.bytes, "bytes_per_chatbot"),
            }
            for bot_id, name, used in found.chatbots
        ],
    }
