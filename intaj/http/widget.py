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
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict

from core.errors import ForbiddenError, IntajError, NotFoundError, RateLimitedError
from core.ids import is_uuid
from core.settings import Settings
from core.types import Answer
from db import chatbots as chatbots_db
from db import connections as connections_db
from db.connections import Widget
from intaj.http.api import Uuid, event_stream, stream_answer, text_field
from intaj.http.errors import Refusal, reply, responses
from intaj.http.owner import source_name
from intaj.http.ratelimit import WidgetLimits
from retrieval.bidi import strip_bidi, strip_bidi_json
from retrieval.generate import link_hosts
from retrieval.schemas import Text
from retrieval.search import load_chatbot

PUBLIC_METADATA = ("page", "headings", "title", "url", "question")


class PublicCitationOut(BaseModel):
    number: int
    source: str
    metadata: dict[str, Any]
    snippet: str


class PublicAnswerOut(BaseModel):
    """The ``done`` event of a widget's answer (:func:`public_answer`)."""

    answer: str
    citations: list[PublicCitationOut]
    abstained: bool
    conversation_id: str | None


class WidgetConfigOut(BaseModel):
    name: str
    link_hosts: list[str]


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


# the routes' declarations (OpenAPI): a 200 is the SSE stream alone (response_class=Response:
# no JSON 200), an error is JSON
PREFLIGHT: dict[str, Any] = {
    "response_class": Response,
    "responses": {204: {"description": "CORS headers for the page's origin"},
                  **responses(403, 404)},
    "summary": "CORS preflight of a visitor's message",
}  # fmt: skip
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}
MESSAGE: dict[str, Any] = {
    "response_class": Response,
    "responses": {200: {"content": event_stream(PublicAnswerOut)},
                  **responses(402, 403, 404, 415, 422, 429, 502)},
    "summary": "Answer a visitor's message (SSE)",
}  # fmt: skip


def widget_routes(settings: Settings, pool: ConnectionPool) -> APIRouter:
    router = APIRouter(prefix="/v1/widgets", tags=["widget"])
    limits = WidgetLimits(
        per_widget=settings.widget_messages_per_minute,
        per_ip=settings.widget_ip_messages_per_minute,
    )

    class WidgetMessageIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        message: Text = text_field(settings.api_max_message_chars)
        conversation_id: Uuid | None = None

    def allowed(widget_id: str, request: Request) -> tuple[Widget, str]:
        return allowed_widget(pool, widget_id, request)

    Allowed = Annotated[tuple[Widget, str], Depends(allowed)]

    @router.get(
        "/{widget_id}",
        response_model=WidgetConfigOut,
        responses=responses(403, 404),
        summary="A widget's public settings",
    )
    def widget_config(allowed: Allowed) -> Any:
        widget, origin = allowed
        with pool.connection() as conn:
            bot = chatbots_db.get(conn, chatbot_id=widget.chatbot_id)
        if bot is None:
            raise Refusal(NotFoundError("no such widget"), cors(origin))
        body = {"name": strip_bidi(bot.name), "link_hosts": list(link_hosts(bot, settings))}
        return JSONResponse(body, headers=cors(origin))

    @router.options("/{widget_id}/messages", status_code=204, **PREFLIGHT)
    def preflight(allowed: Allowed) -> Response:
        return Response(status_code=204, headers={**cors(allowed[1]), **PREFLIGHT_HEADERS})

    @router.post("/{widget_id}/messages", **MESSAGE)
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
