"""Storage and database webhooks (Supabase), as a FastAPI router the HTTP app mounts:

    from intaj.http.webhooks import router as webhooks_router
    app.include_router(webhooks_router)       # POST /v1/webhooks/storage, /v1/webhooks/database

Each request must carry the shared secret ``INTAJ_WEBHOOK_SECRET``, either as
``Authorization: Bearer <secret>`` (what a Supabase Database webhook sends as a custom header)
or as ``X-Intaj-Signature: sha256=<hex HMAC-SHA256 of the raw body>``; both are compared in
constant time. Without a configured secret every request is refused (503). Both ways are in
the OpenAPI schema as security schemes (``WebhookSecret``, ``WebhookSignature``), and each
event's shape as the request body; the handlers check the same before any work (422
``invalid_event`` naming the field).

The logic is in ``flows/webhook_events.py``: the source is made pending (or created, for a new
storage object) within its owner's plan (else 402 ``plan_limit``) and dispatched at once when a
Prefect server is configured; otherwise the listener, woken by the database trigger's NOTIFY,
takes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from core.errors import EventError
from intaj import services
from intaj.http.errors import responses

# Read by verify() from the raw request; declared so that the schema says how to call.
_SECRET = HTTPBearer(
    scheme_name="WebhookSecret", auto_error=False, description="INTAJ_WEBHOOK_SECRET itself."
)
_SIGNATURE = APIKeyHeader(
    name="X-Intaj-Signature",
    scheme_name="WebhookSignature",
    auto_error=False,
    description="sha256=<hex HMAC-SHA256 of the raw body, keyed with INTAJ_WEBHOOK_SECRET>",
)
router = APIRouter(
    prefix="/v1/webhooks",
    tags=["webhooks"],
    dependencies=[Depends(_SECRET), Depends(_SIGNATURE)],
    responses=responses(401, 402, 415, 422),  # 402: a source over the owner's plan
)
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")  # format: uuid
NO_NUL = "^[^\\x00]*$"  # text PostgreSQL can hold
_TEXT = {"type": ["string", "null"], "pattern": NO_NUL}
_UUID = {"type": ["string", "null"], "format": "uuid", "minLength": 36, "maxLength": 36}
_ANY_OBJECT = {"type": ["object", "null"]}


def _event_body(properties: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties}
    content = {"application/json": {"schema": schema, "example": example}}
    return {"requestBody": {"required": True, "content": content}}


_DATABASE_EVENT = _event_body(
    {
        "type": _TEXT,
        "table": _TEXT,
        "schema": _TEXT,
        "record": {**_ANY_OBJECT, "properties": {"id": _UUID, "path": _TEXT}},
        "old_record": _ANY_OBJECT,
    },
    {"type": "INSERT", "table": "data_sources", "schema": "public",
     "record": {"id": "0b6f5c2e-8a4b-4d0e-9f1a-2c3d4e5f6a7b", "path": "bot/docs/faq.pdf"},
     "old_record": None},
)  # fmt: skip
_STORED = {"bucket_id": _TEXT, "bucket": _TEXT, "name": _TEXT, "key": _TEXT,
           "metadata": _ANY_OBJECT}  # fmt: skip
_STORAGE_EVENT = _event_body(
    {"type": _TEXT, "record": {**_ANY_OBJECT, "properties": _STORED}, **_STORED},
    {"type": "INSERT", "table": "objects", "schema": "storage",
     "record": {"bucket_id": "uploads", "name": "<chatbot id>/<uuid>/faq.pdf",
                "metadata": {"size": 48213}}},
)  # fmt: skip


class AcceptedOut(BaseModel):
    pending: list[str]
    dispatched: list[str]
    ignored: str | None


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
    except ValueError as e:  # limits.py refuses most before: an empty body comes here
        raise EventError("the body is not JSON", code="invalid_json") from e
    if not isinstance(payload, dict):
        raise EventError(f"body: must be an object, not {type(payload).__name__}")
    return payload


def _object(payload: dict[str, Any], field: str, *, prefix: str = "") -> dict[str, Any]:
    """``payload[field]``: absent or null as ``{}``, else an object."""
    value = payload.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(f"{prefix}{field}: must be an object, not {type(value).__name__}")
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
    """A Database webhook's event before any work: ``type``, ``table`` and ``schema`` text,
    ``record`` and ``old_record`` objects, the record's ``id`` a UUID, its path text. An
    ``EventError`` (422) names the first bad field."""
    for field in ("type", "table", "schema"):
        _text(payload, field, prefix="body")
    record = _object(payload, "record")
    _object(payload, "old_record")
    source_id = record.get("id")
    if source_id is not None and not (isinstance(source_id, str) and _UUID_RE.fullmatch(source_id)):
        raise EventError(f"record.id: {str(source_id)[:64]!r} is not a UUID")
    _text(record, "path")


def check_storage_event(payload: dict[str, Any]) -> None:
    """A Storage event before any work: ``type`` text, ``record`` an object (or absent or
    null), and the bucket and object names, in the record and in the body itself (a plain
    ``{"bucket", "name"}`` event), text without NUL bytes; their ``metadata`` an object."""
    _text(payload, "type", prefix="body")
    record = _object(payload, "record")
    for field in ("bucket_id", "bucket", "name", "key"):
        _text(record, field)
        _text(payload, field, prefix="body")
    _object(record, "metadata", prefix="record.")  # its size counts on the owner's plan
    _object(payload, "metadata", prefix="body.")


def _reply(accepted: Any) -> dict[str, Any]:
    return {
        "pending": accepted.pending,
        "dispatched": accepted.dispatched,
        "ignored": accepted.ignored,
    }


@router.post("/storage", status_code=202, response_model=AcceptedOut, openapi_extra=_STORAGE_EVENT)
async def storage_webhook(request: Request, ctx: ContextDep) -> dict[str, Any]:
    """An object was uploaded to Supabase Storage: ingest it (new source or re-upload)."""
    from flows.webhook_events import accept_storage_event, kick

    payload = await _payload(request, ctx)
    check_storage_event(payload)

    def work() -> Any:
        return kick(ctx.pool, ctx.settings, accept_storage_event(ctx.pool, ctx.settings, payload))

    return _reply(await run_in_threadpool(work))


@router.post(
    "/database", status_code=202, response_model=AcceptedOut, openapi_extra=_DATABASE_EVENT
)
async def database_webhook(request: Request, ctx: ContextDep) -> dict[str, Any]:
    """A ``data_sources`` row was inserted or its file replaced: ingest it."""
    from flows.webhook_events import accept_database_event, kick

    payload = await _payload(request, ctx)
    check_database_event(payload)

    def work() -> Any:
        return kick(ctx.pool, ctx.settings, accept_database_event(ctx.pool, payload, ctx.settings))

    return _reply(await run_in_threadpool(work))
