"""Adding a WhatsApp connection (the CLI's ``intaj connection add --platform whatsapp`` and the
playground's route share it) and the webhook URL that Meta is given for it."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from core.crypto import keyring_for
from core.errors import InputError
from core.settings import Settings
from db import connections as connections_db
from db.chatbots import Chatbot
from db.whatsapp import WHATSAPP
from pipeline import plans

CLI_PUBLIC_URL = "http://127.0.0.1:8000"  # `intaj serve`'s default address
_PHONE_NUMBER_ID = re.compile(r"^[0-9]{1,32}$")


@dataclass(frozen=True, slots=True)
class Added:
    connection_id: str
    webhook_url: str
    verify_token: str
    verify_token_generated: bool


def webhook_path(connection_id: str) -> str:
    return f"/v1/whatsapp/{connection_id}/webhook"


def webhook_url(base: str, connection_id: str) -> str:
    return base.rstrip("/") + webhook_path(connection_id)


def add(
    pool: ConnectionPool,
    settings: Settings,
    bot: Chatbot,
    *,
    phone_number_id: str,
    access_token: str,
    app_secret: str,
    verify_token: str | None = None,
    public_url: str | None = None,
) -> Added:
    """A WhatsApp connection of ``bot``, its credentials sealed; without a verify token, one is
    made (paste it into Meta's webhook settings with the URL)."""
    phone_number_id = phone_number_id.strip()
    if not _PHONE_NUMBER_ID.match(phone_number_id):
        raise InputError(
            f"phone-number id {phone_number_id!r} is not one: copy the numeric 'Phone number"
            " ID' from Meta's WhatsApp > API Setup page (not the phone number itself)"
        )
    for name, value in (("access token", access_token), ("app secret", app_secret)):
        if not value.strip() or len(value) > 4096:
            raise InputError(f"the {name} is empty or too long: copy it from Meta's app settings")
    generated = not verify_token
    token = verify_token or secrets.token_urlsafe(24)
    if not 8 <= len(token) <= 256:
        raise InputError("the verify token must be 8 to 256 characters (or leave it out)")
    credentials = {
        "phone_number_id": phone_number_id,
        "access_token": access_token.strip(),
        "app_secret": app_secret.strip(),
        "verify_token": token,
    }
    with plans.guarded(pool, settings, user_id=bot.user_id) as guard:
        guard.count("whatsapp_connections")  # the owner's plan has room (a PlanLimitError)
        connection_id = connections_db.add(
            guard.conn, user_id=bot.user_id, chatbot_id=bot.id, platform=WHATSAPP,
            credentials=credentials, keyring=keyring_for(settings),
        )  # fmt: skip
    base = public_url or settings.public_url or CLI_PUBLIC_URL
    return Added(connection_id, webhook_url(base, connection_id), token, generated)
