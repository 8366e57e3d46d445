"""The WhatsApp channel's settings (issue 30; intaj/whatsapp/, docs/whatsapp.md): a block of
the one settings object, :class:`core.settings.Settings`, which inherits it (read from the
environment with the same ``INTAJ_`` prefix, through :func:`core.settings.get_settings`).
Kept in its own module so that core/settings.py stays under the house's 300 lines."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WhatsAppSettings(BaseModel):
    # The Graph API's base URL (tests and staging point it at a fake).
    whatsapp_graph_url: str = "https://graph.facebook.com/v22.0"
    # The server's public base URL, that webhook URLs are shown with (unset: the playground's
    # own address; the CLI prints http://127.0.0.1:8000, `intaj serve`'s default).
    public_url: str | None = None
    # The inbox worker of `intaj serve` (false: this server only stores deliveries, another
    # works them), its threads, its lease (a claim older than this was left by a dead process
    # and is taken again) and how often it looks when not woken by the webhook.
    whatsapp_worker: bool = True
    whatsapp_worker_threads: int = Field(default=2, ge=1, le=32)
    whatsapp_lease_seconds: float = Field(default=60.0, gt=0)
    whatsapp_poll_seconds: float = Field(default=1.0, gt=0)
    # Sending a reply: attempts (on 429, 5xx and Graph throttling errors), the first backoff
    # (doubling, with jitter), the longest wait (Retry-After included), each request's timeout.
    whatsapp_send_attempts: int = Field(default=5, ge=1, le=20)
    whatsapp_send_backoff_seconds: float = Field(default=1.0, ge=0)
    whatsapp_send_max_wait_seconds: float = Field(default=60.0, ge=0)
    whatsapp_timeout_seconds: float = Field(default=20.0, gt=0)
    # The widget's limits, for WhatsApp: messages a minute per connection, and per connection
    # and sender; over them a message is stored as `limited` and not answered.
    whatsapp_messages_per_minute: int = Field(default=60, ge=1)
    whatsapp_sender_messages_per_minute: int = Field(default=6, ge=1)
