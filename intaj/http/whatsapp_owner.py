"""What the playground's WhatsApp panel reads and sets (auth as the API's; docs/whatsapp.md):

    GET  /v1/chatbots/{id}/whatsapp   the chatbot's WhatsApp connections: the webhook URL to
                                      paste into Meta's app, whether Meta verified it, the
                                      latest messages (state, delivery status, error)
    POST /v1/chatbots/{id}/whatsapp   add a connection (as `intaj connection add --platform
                                      whatsapp`): 201 with its id, webhook URL (and the verify
                                      token, when one was made)

No secret is ever returned: the phone-number id is shown, not the token or the app secret.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from core.crypto import keyring_for
from core.settings import Settings
from db import whatsapp as whatsapp_db
from db.chatbots import Chatbot
from intaj.http.api import caller_dependencies
from intaj.http.errors import responses
from intaj.whatsapp import setup

# a secret as Meta shows it: something besides spaces (setup.add strips and refuses blanks)
Secret = Annotated[StrictStr, Field(min_length=1, max_length=4096, pattern=r"\S")]


class WhatsAppIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_number_id: Annotated[StrictStr, Field(pattern=r"^[0-9]{1,32}$")]
    access_token: Secret
    app_secret: Secret
    verify_token: Annotated[StrictStr, Field(pattern=r"^\S.{6,254}\S$")] | None = None


def _when(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def whatsapp_owner_routes(settings: Settings, pool: ConnectionPool) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["playground"])
    _, chatbot = caller_dependencies(settings, pool)
    Bot = Annotated[Chatbot, Depends(chatbot)]

    def base(request: Request) -> str:
        return settings.public_url or str(request.base_url)

    @router.get(
        "/chatbots/{chatbot_id}/whatsapp",
        responses=responses(401, 404, 413, 503),
        summary="The chatbot's WhatsApp connections",
    )
    def list_connections(bot: Bot, request: Request) -> Any:
        keyring = keyring_for(settings)
        listed = []
        with pool.connection() as conn:
            for connection_id in whatsapp_db.connection_ids(conn, chatbot_id=bot.id):
                found = whatsapp_db.connection(conn, connection_id=connection_id, keyring=keyring)
                if found is None:
                    continue
                recent = whatsapp_db.recent(conn, connection_id=found.id, limit=10)
                listed.append({
                    "id": found.id,
                    "phone_number_id": found.phone_number_id,
                    "webhook_url": setup.webhook_url(base(request), found.id),
                    "verified": found.verified_at is not None,
                    "verified_at": _when(found.verified_at),
                    "recent": [{**r, "received_at": _when(r["received_at"]),
                                "finished_at": _when(r["finished_at"])} for r in recent],
                })  # fmt: skip
        return {"connections": listed}

    @router.post(
        "/chatbots/{chatbot_id}/whatsapp",
        status_code=201,
        responses=responses(400, 401, 402, 404, 413, 415, 422, 503),
        summary="Add a WhatsApp connection to the chatbot",
    )
    def add_connection(body: WhatsAppIn, bot: Bot, request: Request) -> Any:
        added = setup.add(
            pool, settings, bot, phone_number_id=body.phone_number_id,
            access_token=body.access_token, app_secret=body.app_secret,
            verify_token=body.verify_token, public_url=base(request),
        )  # fmt: skip
        shown = added.verify_token if added.verify_token_generated else None
        reply = {"id": added.connection_id, "webhook_url": added.webhook_url,
                 "verify_token": shown}  # fmt: skip
        return JSONResponse(reply, 201)

    return router
