"""The HTTP app factory: the retrieval API (retrieval/api.py), the storage/database webhooks
(intaj/webhooks.py), the playground and the website widget (intaj/web), wired to settings and
the pool.

uvicorn --factory intaj.http:create_app      # or: intaj serve
"""

from __future__ import annotations

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from core.settings import Settings, get_settings
from db import open_pool
from intaj import services, web, webhooks
from retrieval.api import build_app


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
    web.mount(app, settings, pool)  # the playground and the website widget (intaj/web)
    return app
