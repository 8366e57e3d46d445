"""The playground page and the static front end (``intaj/web/static``), mounted with the
owner routes (owner.py) and the widget's public routes (widget.py):

    GET /playground          the playground page (static/playground.html)
    GET /static/...          the front end: plain ES modules and CSS, no build step
    /v1/chatbots/...         what the playground reads (owner.py; the answers come from the
                             API's own SSE route, api.py)
    /v1/widgets/...          the widget's public, origin-checked, rate-limited routes (widget.py)

docs/web.md describes both."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from intaj.http.owner import owner_routes
from intaj.http.widget import widget_routes

STATIC = Path(str(resources.files("intaj.web") / "static"))
PLAYGROUND_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def mount(app: FastAPI, settings: Settings, pool: ConnectionPool) -> None:
    """Add the playground, the widget and their static files to ``app``."""
    app.include_router(owner_routes(settings, pool))
    app.include_router(widget_routes(settings, pool))
    app.mount("/static", PublicFiles(StaticFiles(directory=STATIC)), name="static")

    @app.get("/playground", include_in_schema=False)
    def playground() -> FileResponse:
        headers = {
            "Content-Security-Policy": PLAYGROUND_CSP,
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        }
        return FileResponse(STATIC / "playground.html", headers=headers)


class PublicFiles:
    """Static files any site may load (the widget runs on the owners' sites; its ES modules
    are fetched in CORS mode), never sniffed as another type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", b"*"),
                    (b"cross-origin-resource-policy", b"cross-origin"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
