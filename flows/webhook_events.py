"""The upload webhooks' work (``intaj/http/webhooks.py`` is their HTTP edge): a Supabase
Database event on ``data_sources`` or a Storage upload makes a source pending (or creates it),
within its owner's plan (pipeline/plans.py), and, when a Prefect server is configured, it is
dispatched at once (:func:`kick`, through the upload trigger's ``Dispatcher``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from core.settings import Settings, get_settings
from db import sources as sources_db
from flows.sweep import prefect_api_url
from pipeline import plans, status
from pipeline.sources.registration import register_stored

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """What a webhook did: the sources it made pending, and those dispatched right away."""

    pending: list[str]
    dispatched: list[str]
    ignored: str | None = None


def accept_database_event(
    pool: ConnectionPool, payload: dict[str, Any], settings: Settings | None = None
) -> Accepted:
    """A Supabase Database webhook on ``data_sources``: an INSERT is pending already; an UPDATE
    that changed the path (a re-upload) is made pending again. Over the plan: PlanLimitError."""
    if payload.get("table") != "data_sources":
        return Accepted([], [], ignored=f"table {payload.get('table')!r} is not data_sources")
    kind, record = payload.get("type"), payload.get("record") or {}
    source_id = record.get("id")
    if kind not in ("INSERT", "UPDATE") or not source_id:
        return Accepted([], [], ignored=f"{kind} events need no ingestion")
    old = payload.get("old_record") or {}
    if kind == "UPDATE" and old.get("path") != record.get("path"):
        status.pending(pool, source_id=str(source_id))
    with pool.connection() as conn:
        found = sources_db.get(conn, source_id=str(source_id))
    if found is None or found.status != "pending":
        return Accepted([], [], ignored="the source is not pending")
    plans.admit(pool, settings or get_settings(), source_id=found.id)
    return Accepted([found.id], [])


def accept_storage_event(
    pool: ConnectionPool, settings: Settings, payload: dict[str, Any]
) -> Accepted:
    """A Supabase Storage upload (a Database webhook on ``storage.objects``, or a plain
    ``{"bucket", "name"}``) for a key made by ``upload_key``: ``{chatbot_id}/{uuid}/{file}``.
    The source at ``supabase://bucket/name`` is made pending (re-upload) or created."""
    record = payload.get("record") or payload
    bucket = record.get("bucket_id") or record.get("bucket")
    name = record.get("name") or record.get("key")
    if payload.get("type") == "DELETE" or not bucket or not name:
        return Accepted([], [], ignored="not an object-created event with a bucket and name")
    path, size = f"supabase://{bucket}/{name}", (record.get("metadata") or {}).get("size")
    registered = register_stored(pool, settings, path=path, key=str(name), size=size)
    if registered.source is None:
        return Accepted([], [], ignored=registered.error)
    return Accepted([registered.source.id], [])


def kick(pool: ConnectionPool, settings: Settings, accepted: Accepted) -> Accepted:
    """Dispatch accepted sources now when a Prefect server is configured; otherwise they stay
    pending and the listener (woken by the same NOTIFY) takes them."""
    if not accepted.pending or not prefect_api_url():
        return accepted
    from flows.trigger import Dispatcher

    dispatcher = Dispatcher(pool, settings, "deployment")
    done = []
    try:
        for source_id in accepted.pending:
            try:
                if dispatcher.trigger(source_id) is not None:
                    done.append(source_id)
            except Exception as e:  # the claim was given back: the listener's sweep retries it
                log.warning("could not dispatch source %s now: %s", source_id, e)
    finally:
        dispatcher.close()
    return Accepted(accepted.pending, done)
