"""The one HTTP package (FastAPI lives here and nowhere else) and its app factory:

    api.py         the chatbot runtime's routes: messages (JSON or SSE), search, healthz,
                   with the auth dependencies and the request limits
    owner.py       what the playground reads and sets about the caller's own chatbots
    widget.py      the website widget's public, origin-checked, rate-limited routes
    whatsapp.py    WhatsApp's signed webhook (one per connection) and its inbox worker
    webhooks.py    the storage and database upload webhooks
    playground.py  the playground page and the static front end (intaj/web/static)
    errors.py      the one mapping from our errors to statuses and bodies
    metrics.py     GET /metrics (Prometheus) and the middleware that counts every request
    usage.py       the plan of a chatbot's owner and its usage (the playground's panel)

uvicorn --factory intaj.http:create_app      # or: intaj serve"""

from __future__ import annotations

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from core.settings import Settings, get_settings
from db import open_pool
from intaj import services
from intaj.http import metrics, playground, usage, webhooks, whatsapp
from intaj.http.api import build_app


def create_app(settings: Settings | None = None, *, pool: ConnectionPool | None = None) -> FastAPI:
    """The API app. Opens the database pool (starting the embedded server when there is no
    DATABASE_URL) and applies pending migrations. The webhooks are always mounted: without
    ``INTAJ_WEBHOOK_SECRET`` they answer 503 (``service_unavailable``, saying which
    setting to set), never unauthenticated."""
    settings = settings or get_settings()
    pool = pool or open_pool(settings)
    app = build_app(settings, pool)
    app.include_router(webhooks.router)
    ctx = services.Context(settings, pool)
    app.dependency_overrides[webhooks.context_dependency] = lambda: ctx
    playground.mount(app, settings, pool)  # the playground and the website widget
    whatsapp.mount(app, settings, pool)  # WhatsApp's webhook and its inbox worker
    app.include_router(usage.usage_routes(settings, pool))  # the plan and its usage
    metrics.install(app, pool)  # GET /metrics; every request counted (docs/operations.md)
    return app
