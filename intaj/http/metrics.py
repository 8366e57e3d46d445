"""``GET /metrics``: the server's Prometheus metrics (core/metrics.py; docs/operations.md,
"Metrics"), and the middleware that counts and times every request by method, route
*template* (``/v1/chatbots/{chatbot_id}/messages``, never the id) and status, and keeps the
number of SSE answer streams open. No auth, like ``/healthz``: the metrics hold no id, owner or
chatbot content; keep the port off the public internet or filter ``/metrics`` at the proxy."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from psycopg_pool import ConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics
from db import dispatch as dispatch_db

UNMATCHED = "unmatched"  # the route of a request no route took (404s): one label value
TEXT = "text/plain; version=0.0.4; charset=utf-8"


class RequestMetrics:
    """ASGI middleware: each HTTP request counted and timed (to the reply's first byte) by
    method, route template and status; an ``text/event-stream`` reply is an open stream until
    its last byte is sent or the client goes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, state = time.perf_counter(), {"status": None, "stream": False}

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                metrics.request(scope["method"], _route(scope), message["status"],
                                time.perf_counter() - start)  # fmt: skip
                if _is_stream(message):
                    state["stream"] = True
                    metrics.stream_opened(1)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                _closed(state)
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except Exception:  # the 500 the server's last handler answers, counted here
            if state["status"] is None:
                metrics.request(scope["method"], _route(scope), 500, time.perf_counter() - start)
            raise
        finally:
            _closed(state)


def _route(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def _is_stream(message: Message) -> bool:
    headers = dict(message.get("headers") or [])
    return bytes(headers.get(b"content-type", b"")).startswith(b"text/event-stream")


def _closed(state: dict[str, Any]) -> None:
    if state["stream"]:
        state["stream"] = False
        metrics.stream_opened(-1)


def install(app: FastAPI, pool: ConnectionPool) -> None:
    """Enable this process's metrics, count ``app``'s requests, serve ``GET /metrics``."""
    from prometheus_client import REGISTRY, generate_latest

    def queue() -> dict[str, int]:
        with pool.connection(timeout=2) as conn:
            return dispatch_db.queue_depth(conn)

    metrics.watch_queue(queue)
    router = APIRouter()

    @router.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics of this server",
        responses={200: {"content": {TEXT: {"schema": {"type": "string"}}},
                         "description": "The metrics, in Prometheus's text format"}},
    )  # fmt: skip
    def prometheus_metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=TEXT)

    app.include_router(router)
    app.add_middleware(RequestMetrics)
