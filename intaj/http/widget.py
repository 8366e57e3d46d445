"""The website widget's public endpoints: no credentials, but an allowed origin, and limits.

    GET     /v1/widgets/{id}            the widget's settings (the chatbot's name, link hosts)
    OPTIONS /v1/widgets/{id}/messages   CORS preflight
    POST    /v1/widgets/{id}/messages   answer a visitor's message (SSE, as the API streams)

``{id}`` is a ``connections`` row with ``platform = 'website'`` (``intaj widget add``). A
request must come from a page of one of its ``allowed_origins`` (the browser's ``Origin``
header): any other origin, or none, gets 403 ``origin_not_allowed`` and a preflight without
CORS headers, so a foreign page's browser never sends the message. Messages are limited per
widget and client IP, and per widget (``INTAJ_WIDGET_*_PER_MINUTE``): over a limit, 429
``rate_limited`` with ``Retry-After``. Answers are :func:`retrieval.answer.answer_stream`'s,
filtered as the API's (retrieval/output.py); citations name a source by its file name or URL.
No bidi control reaches the page in an answer, snippet, source name or heading
(retrieval/bidi.py).
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from core.errors import ForbiddenError, IntajError, NotFoundError, RateLimitedError
from core.ids import is_uuid
from core.settings import Settings
from core.types import Answer
from db import chatbots as chatbots_db
from db import connections as connections_db
from db.connections import Widget
from intaj.http.api import stream_answer
from intaj.http.errors import Refusal, reply
from intaj.http.owner import source_name
from intaj.http.ratelimit import WidgetLimits
from retrieval.bidi import strip_bidi, strip_bidi_json
from retrieval.generate import link_hosts
from retrieval.schemas import Text
from retrieval.search import load_chatbot

PUBLIC_METADATA = ("page", "headings", "title", "url", "question")


def cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def public_answer(result: Answer) -> dict[str, Any]:
    """What a visitor's browser gets: the answer and where it comes from, no storage paths,
    ids or scores."""
    return {
        "answer": strip_bidi(result.answer),
        "citations": [
            {
                "number": c.number,
                "source": source_name(c.source),
                "metadata": strip_bidi_json(
                    {k: c.metadata[k] for k in PUBLIC_METADATA if k in c.metadata}
                ),
                "snippet": strip_bidi(c.snippet),
            }
            for c in result.citations
        ],
        "abstained": result.abstained,
        "conversation_id": result.conversation_id,
    }


def allowed_widget(pool: ConnectionPool, widget_id: str, request: Request) -> tuple[Widget, str]:
    """The widget and the request's origin, when that origin may use it."""
    origin = request.headers.get("origin", "")
    found = None
    if is_uuid(widget_id):
        with pool.connection() as conn:
            found = connections_db.widget(conn, widget_id=widget_id)
    if found is None:
        raise Refusal(NotFoundError("no such widget"), cors(origin) if origin else {})
    if not origin or origin not in found.allowed_origins:
        # readable by the page (GET), so the widget can say why it does not answer there
        headers = cors(origin) if origin and request.method == "GET" else {}
        refused = ForbiddenError(
            "this chat does not answer on this site", code="origin_not_allowed"
        )
        raise Refusal(refused, headers)
    return found, origin


def check_limits(limits: WidgetLimits, widget: Widget, origin: str, request: Request) -> None:
    """Counts valid messages only: a refused or invalid one costs no answer."""
    client = request.client.host if request.client else "unknown"
    wait = limits.take(widget_id=widget.id, client_ip=client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        headers = {**cors(origin), "Access-Control-Expose-Headers": "Retry-After"}
        message = f"too many messages; try again in {seconds} s"
        raise Refusal(RateLimitedError(message, retry_after=seconds), headers)


def widget_routes(settings: Settings, pool: ConnectionPool) -> APIRouter:
    router = APIRouter(prefix="/v1/widgets", tags=["widget"])
    limits = WidgetLimits(
        per_widget=settings.widget_messages_per_minute,
        per_ip=settings.widget_ip_messages_per_minute,
    )

    class WidgetMessageIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        message: Text = Field(max_length=settings.api_max_message_chars)
        conversation_id: uuid.UUID | None = None

    def allowed(widget_id: str, request: Request) -> tuple[Widget, str]:
        return allowed_widget(pool, widget_id, request)

    Allowed = Annotated[tuple[Widget, str], Depends(allowed)]

    @router.get("/{widget_id}", summary="A widget's public settings")
    def widget_config(allowed: Allowed) -> Any:
        widget, origin = allowed
        with pool.connection() as conn:
            bot = chatbots_db.get(conn, chatbot_id=widget.chatbot_id)
        if bot is None:
            raise Refusal(NotFoundError("no such widget"), cors(origin))
        body = {"name": strip_bidi(bot.name), "link_hosts": list(link_hosts(bot, settings))}
        return JSONResponse(body, headers=cors(origin))

    @router.options("/{widget_id}/messages", include_in_schema=False)
    def preflight(allowed: Allowed) -> Response:
        headers = {
            **cors(allowed[1]),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=headers)

    @router.post("/{widget_id}/messages", summary="Answer a visitor's message (SSE)")
    def widget_message(body: WidgetMessageIn, allowed: Allowed, request: Request) -> Any:
        widget, origin = allowed
        check_limits(limits, widget, origin, request)
        try:
            return stream_answer(
                pool,
                settings,
                shape=public_answer,
                headers=cors(origin),
                chatbot=load_chatbot(pool, widget.chatbot_id),
                message=body.message,
                conversation_id=str(body.conversation_id) if body.conversation_id else None,
            )
        except IntajError as e:
            return reply(e, cors(origin))

    return router
