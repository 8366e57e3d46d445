"""WhatsApp's webhook: Meta's public routes, one URL per connection (so its app secret is known
before the body is read). docs/whatsapp.md.

    GET  /v1/whatsapp/{connection_id}/webhook   verification (hub.mode, hub.verify_token,
                                                hub.challenge echoed): 403 on a wrong token
    POST /v1/whatsapp/{connection_id}/webhook   a delivery: X-Hub-Signature-256 (HMAC-SHA256
                                                of the raw body with the app secret) checked in
                                                constant time before anything is parsed; then
                                                stored in the inbox and answered 200

A delivery's messages go into the durable inbox (db/whatsapp.py; a WhatsApp message id once),
its delivery statuses into ``whatsapp_statuses``; the answers are worked after the 200 by the
inbox worker (intaj/whatsapp/worker.py), which this app runs while it is served. No such
connection, or a delivery for another phone-number id: 404, nothing stored. A sender or a
connection over its limit (``INTAJ_WHATSAPP_*_PER_MINUTE``): the message is stored as
``limited`` and not answered (Meta is still answered 200, or it would redeliver it).
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse
from psycopg_pool import ConnectionPool
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from core.crypto import Keyring, keyring_for
from core.errors import AuthError, EventError, ForbiddenError, NotFoundError
from core.ids import is_uuid
from core.settings import Settings
from db import whatsapp as whatsapp_db
from db.whatsapp import WhatsAppConnection
from intaj.http.errors import responses
from intaj.http.ratelimit import WidgetLimits
from intaj.http.whatsapp_owner import whatsapp_owner_routes
from intaj.whatsapp.events import Delivery, Read, read
from intaj.whatsapp.worker import InboxWorker

SIGNATURE = "X-Hub-Signature-256"
_ERRORS = responses(401, 403, 404, 413, 415, 422, 503)


def mount(app: FastAPI, settings: Settings, pool: ConnectionPool) -> None:
    """The webhook routes, the playground panel's (whatsapp_owner.py), and
    (``INTAJ_WHATSAPP_WORKER``) the inbox worker, started and stopped with the served app."""
    worker = InboxWorker(pool, settings) if settings.whatsapp_worker else None
    app.include_router(webhook_routes(settings, pool, wake=worker.wake if worker else None))
    app.include_router(whatsapp_owner_routes(settings, pool))  # the playground's panel
    if worker is not None:
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(served: Any) -> AsyncIterator[Any]:
            worker.start()
            try:
                async with inner(served) as state:
                    yield state
            finally:
                await run_in_threadpool(worker.stop)

        app.router.lifespan_context = lifespan


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` written in place (an OpenAPI request body)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


def check_signature(app_secret: str, header: str | None, body: bytes) -> None:
    """401 without a signature, 403 unless it is HMAC-SHA256 of ``body`` with the app secret
    (compared in constant time)."""
    if not header:
        raise AuthError(f"{SIGNATURE} is missing", code="signature_missing")
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header.strip().encode(), expected.encode()):
        raise ForbiddenError(f"{SIGNATURE} does not match the body", code="signature_invalid")


def parse(body: bytes) -> Read:
    try:
        data = json.loads(body)
    except ValueError as e:
        raise EventError("the body is not JSON") from e
    try:
        return read(Delivery.model_validate(data))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise EventError(f"{where[:200]}: {first.get('msg', 'invalid')}") from e


class Webhook:
    """What the two routes do, over one app's settings, pool and limits."""

    def __init__(
        self, settings: Settings, pool: ConnectionPool, wake: Callable[[], None] | None
    ) -> None:
        self.settings, self.pool, self.wake = settings, pool, wake
        self.limits = WidgetLimits(
            per_widget=settings.whatsapp_messages_per_minute,
            per_ip=settings.whatsapp_sender_messages_per_minute,
        )
        self._keyring: Keyring | None = None  # made on first use: only WhatsApp needs it

    def connection(self, connection_id: str) -> WhatsAppConnection:
        found = None
        if is_uuid(connection_id):
            if self._keyring is None:
                self._keyring = keyring_for(self.settings)
            with self.pool.connection() as conn:
                found = whatsapp_db.connection(
                    conn, connection_id=connection_id, keyring=self._keyring
                )
        if found is None:
            raise NotFoundError("no such WhatsApp connection")
        return found

    def verify(self, connection_id: str, mode: str, token: str) -> None:
        found = self.connection(connection_id)
        right = hmac.compare_digest(token.encode(), found.verify_token.encode())
        if mode != "subscribe" or not right:
            raise ForbiddenError("wrong hub.mode or hub.verify_token", code="verify_token_invalid")
        with self.pool.connection() as conn:
            whatsapp_db.mark_verified(conn, connection_id=found.id)

    def accept(self, connection_id: str, signature: str | None, body: bytes) -> dict[str, int]:
        found = self.connection(connection_id)
        check_signature(found.app_secret, signature, body)  # before anything reads the body
        delivery = parse(body)
        if delivery.phone_number_ids - {found.phone_number_id}:
            raise NotFoundError("the delivery is for a phone-number id this connection is not")
        stored = self.store(found, delivery)
        if stored["received"] and self.wake is not None:
            self.wake()
        return stored

    def store(self, found: WhatsAppConnection, delivery: Read) -> dict[str, int]:
        """In one transaction: each new message in the inbox (over a limit: ``limited``),
        each status once."""
        counts = {"received": 0, "duplicates": 0, "limited": 0, "statuses": 0}
        with self.pool.connection() as conn, conn.transaction():
            for m in delivery.messages:
                new = whatsapp_db.receive(
                    conn, connection_id=found.id, chatbot_id=found.chatbot_id,
                    wa_message_id=m.wa_message_id, sender=m.sender, kind=m.kind, body=m.body,
                )  # fmt: skip
                if new is None:
                    counts["duplicates"] += 1
                    continue
                counts["received"] += 1
                if self.limits.take(widget_id=found.id, client_ip=m.sender) > 0:
                    whatsapp_db.set_limited(conn, inbox_id=new, error="rate_limited")
                    counts["limited"] += 1
            for s in delivery.statuses:
                counts["statuses"] += whatsapp_db.record_status(
                    conn, connection_id=found.id, chatbot_id=found.chatbot_id,
                    wa_message_id=s.wa_message_id, status=s.status, recipient=s.recipient,
                    at=s.at, errors=s.errors,
                )  # fmt: skip
        return counts


def webhook_routes(
    settings: Settings, pool: ConnectionPool, *, wake: Callable[[], None] | None = None
) -> APIRouter:
    router = APIRouter(prefix="/v1/whatsapp", tags=["whatsapp"])
    hook = Webhook(settings, pool, wake)

    @router.get(
        "/{connection_id}/webhook",
        response_class=Response,  # 200 is text; errors are our JSON error body
        responses={
            200: {
                "description": "hub.challenge, echoed",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **responses(403, 404, 413, 422, 503),
        },
        summary="Meta's webhook verification: echo hub.challenge",
    )
    def verify(
        connection_id: str,
        mode: Annotated[str, Query(alias="hub.mode", max_length=64)],
        token: Annotated[str, Query(alias="hub.verify_token", max_length=256)],
        challenge: Annotated[str, Query(alias="hub.challenge", pattern=r"^[A-Za-z0-9_-]{1,256}$")],
    ) -> Any:
        hook.verify(connection_id, mode, token)
        return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})

    @router.post(
        "/{connection_id}/webhook",
        responses=_ERRORS,
        summary="A signed delivery from Meta: stored, answered after the 200",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": inline(Delivery.model_json_schema())}},
            }
        },
    )
    async def deliver(
        connection_id: str,
        request: Request,
        signature: Annotated[str | None, Header(alias=SIGNATURE, max_length=256)] = None,
    ) -> dict[str, int]:
        body = await request.body()  # raw: the signature is over these bytes
        return await run_in_threadpool(hook.accept, connection_id, signature, body)

    return router
