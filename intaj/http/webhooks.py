"""Storage and database webhooks (Supabase), as a FastAPI router the HTTP app mounts:

    from intaj.http.webhooks import router as webhooks_router
    app.include_router(webhooks_router)       # POST /v1/webhooks/storage, /v1/webhooks/database

Each request must carry the shared secret ``INTAJ_WEBHOOK_SECRET``, either as
``Authorization: Bearer <secret>`` (what a Supabase Database webhook sends as a custom header)
or as ``X-Intaj-Signature: sha256=<hex HMAC-SHA256 of the raw body>``; both are compared in
constant time. Without a configured secret every request is refused (503).

The logic is in ``flows/trigger.py``: the source is made pending (or created, for a new storage
object) and dispatched at once when a Prefect server is configured; otherwise the listener,
woken by the database trigger's NOTIFY, takes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from core.errors import EventError
from core.ids import is_uuid
from intaj import services

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def context_dependency() -> services.Context:
    """The settings and pool the routes use (override it in an app with its own)."""
    return services.context()


ContextDep = Annotated[services.Context, Depends(context_dependency)]


def verify(secret: str | None, headers: Any, body: bytes) -> None:
    """Raise 503 when no secret is configured, 401 unless the request proves it knows it."""
    if not secret:
        raise HTTPException(503, "webhooks are disabled: set INTAJ_WEBHOOK_SECRET")
    auth = headers.get("authorization") or ""
    signature = headers.get("x-intaj-signature") or ""
    if auth[:7].lower() == "bearer ":
        ok = hmac.compare_digest(auth[7:].strip().encode(), secret.encode())
    elif signature:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(signature.strip().encode(), expected.encode())
    else:
        ok = False
    if not ok:
        raise HTTPException(401, "missing or wrong webhook secret")


async def _payload(request: Request, ctx: services.Context) -> dict[str, Any]:
    body = await request.body()
    secret = ctx.settings.webhook_secret
    verify(secret.get_secret_value() if secret else None, request.headers, body)
    try:
        payload = json.loads(body)
    except ValueError as e:
        raise HTTPException(422, "the body is not JSON") from e
    if not isinstance(payload, dict):
        raise HTTPException(422, "the body must be a JSON object")
    return payload


def _object(payload: dict[str, Any], field: str) -> dict[str, Any]:
    """``payload[field]``: absent or null as ``{}``, else an object."""
    value = payload.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(f"{field}: must be an object, not {type(value).__name__}")
    return value


def _text(record: dict[str, Any], field: str, *, prefix: str = "record") -> None:
    """``record[field]``, when present: text without NUL bytes (PostgreSQL refuses them)."""
    value = record.get(field)
    if value is None:
        return
    if not isinstance(value, str):
        raise EventError(f"{prefix}.{field}: must be text, not {type(value).__name__}")
    if "\x00" in value:
        raise EventError(f"{prefix}.{field}: holds a NUL byte")


def check_database_event(payload: dict[str, Any]) -> None:
    """A Database webhook's event before any work: ``record`` and ``old_record`` objects, the
    record's ``id`` a UUID, its path text. An ``EventError`` (422) names the first bad field."""
    record = _object(payload, "record")
    _object(payload, "old_record")
    source_id = record.get("id")
    if source_id is not None and not (isinstance(source_id, str) and is_uuid(source_id)):
        raise EventError(f"record.id: {source_id!r} is not a UUID")
    _text(record, "path")


def check_storage_event(payload: dict[str, Any]) -> None:
    """A Storage event before any work: ``record`` (or the body itself) an object whose
    bucket and object name are text without NUL bytes."""
    record = _object(payload, "record") if "record" in payload else payload
    for field in ("bucket_id", "bucket", "name", "key"):
        _text(record, field, prefix="record" if "record" in payload else "body")


def _reply(accepted: Any) -> dict[str, Any]:
    return {
        "pending": accepted.pending,
        "dispatched": accepted.dispatched,
        "ignored": accepted.ignored,
    }


@router.post("/storage", status_code=202)
async def storage_webhook(request: Request, ctx: ContextDep) -> dict[str, Any]:
    """An object was uploaded to Supabase Storage: ingest it (new source or re-upload)."""
    from flows.trigger import accept_storage_event, kick

    payload = await _payload(request, ctx)
    check_storage_event(payload)

    def work() -> Any:
        return kick(ctx.pool, ctx.settings, accept_storage_event(ctx.pool, ctx.settings, payload))

    return _reply(await run_in_threadpool(work))


@router.post("/database", status_code=202)
async def database_webhook(request: Request, ctx: ContextDep) -> dict[str, Any]:
    """A ``data_sources`` row was inserted or its file replaced: ingest it."""
    from flows.trigger import accept_database_event, kick

    payload = await _payload(request, ctx)
    check_database_event(payload)

    def work() -> Any:
        return kick(ctx.pool, ctx.settings, accept_database_event(ctx.pool, payload))

    return _reply(await run_in_threadpool(work))
