"""The HTTP API of the chatbot runtime (FastAPI). Routes, auth and limits: docs/api.md.

    POST /v1/chatbots/{id}/messages   answer a message (JSON, or SSE with "stream": true)
    POST /v1/chatbots/{id}/search     search the chatbot's knowledge
    GET  /healthz                     the database answers

Every route but ``/healthz`` needs a caller (:mod:`retrieval.auth`) who may use the chatbot;
any other chatbot is a 404, like one that does not exist. Input is checked before any work:
body size (413), media type (415), JSON syntax and nesting (422, limits.py), unknown keys,
lengths and ranges (422). Errors are ``{"error": {"code", "message"}}`` with a stable code;
each route declares in OpenAPI every status it can answer (errors.responses).
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime,
# and the request models are built per app (their limits come from the settings).
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt

from core import errors
from core.settings import Settings
from core.types import Answer
from db.chatbots import Chatbot
from intaj.http import errors as http_errors
from intaj.http.errors import ErrorBody, responses
from intaj.http.limits import RequestLimits
from retrieval.answer import answer, answer_stream
from retrieval.auth import Caller, authenticate, authorize
from retrieval.bidi import strip_bidi
from retrieval.schemas import (
    AnswerOut,
    SearchFilters,
    SearchOut,
    Text,
    answer_json,
    error_body,
    hit_json,
)
from retrieval.search import search

log = logging.getLogger(__name__)
MAX_JSON_DEPTH = 16
# what the answering routes can refuse with besides 413 and 503 (every route's)
ANSWER_ERRORS = responses(401, 404, 415, 422, 502)
MESSAGE_ERRORS = responses(401, 402, 404, 415, 422, 502)  # a message counts on the plan
# What the Text validator (retrieval/schemas.py) takes, said in the schema: no NUL character
# and not only whitespace (Python's str.isspace, as re's \s).
TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


def text_field(max_chars: int) -> Any:
    """The field of a message or query (:data:`retrieval.schemas.Text`): its length and, in
    the schema, its pattern."""
    return Field(max_length=max_chars, json_schema_extra={"pattern": TEXT_PATTERN})


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place (for a schema nested where
    a ``$ref`` could not resolve: an SSE event's ``contentSchema``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return dict(resolve(schema))


def event_stream(done: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``content`` of an answer streamed as SSE: the schema of each event (as
    OpenAPI 3.2's ``itemSchema``), ``delta`` then ``done`` with ``done``, or ``error``."""

    def event(name: str, data: dict[str, Any]) -> dict[str, Any]:
        payload = {"type": "string", "contentMediaType": "application/json", "contentSchema": data}
        return {"type": "object", "required": ["event", "data"],
                "properties": {"event": {"const": name}, "data": payload}}  # fmt: skip

    delta = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
    events = [event("delta", delta), event("done", inline_schema(done)),
              event("error", inline_schema(ErrorBody))]  # fmt: skip
    return {"text/event-stream": {"schema": {"oneOf": events}}}


def _whole(value: Any) -> Any:
    """A JSON number without a fraction (``12.0``) is an integer, as JSON Schema says."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer: 12 or 12.0, never "12" or true (strict)
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole)]
_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def _canonical(value: Any) -> Any:
    if isinstance(value, str) and not _UUID.fullmatch(value):
        raise ValueError("must be a UUID written 8-4-4-4-12")  # not 32 digits, braces or urn:
    return value


# A UUID as the schema's "format: uuid" says (pydantic alone also takes other spellings)
Uuid = Annotated[uuid.UUID, BeforeValidator(_canonical)]


class Filters(SearchFilters):
    source_ids: list[Uuid] | None = Field(default=None, max_length=100)


class HealthOut(BaseModel):
    status: Literal["ok"]


def caller_dependencies(
    settings: Settings, pool: ConnectionPool
) -> tuple[Callable[..., Caller], Callable[..., Chatbot]]:
    """The two auth dependencies every owner route uses: the caller (a Supabase token or a
    service key) and the chatbot of the path's ``chatbot_id`` that the caller may use."""
    bearer = HTTPBearer(auto_error=False, description="A Supabase access token (JWT).")
    api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A service key.")

    def caller(
        token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        key: Annotated[str | None, Depends(api_key)],
    ) -> Caller:
        return authenticate(settings, bearer=token.credentials if token else None, api_key=key)

    def chatbot(chatbot_id: str, who: Annotated[Caller, Depends(caller)]) -> Chatbot:
        return authorize(pool, who, chatbot_id)

    return caller, chatbot


def build_app(settings: Settings, pool: ConnectionPool) -> FastAPI:
    """The API over ``pool`` with ``settings`` (see intaj.http.create_app)."""

    class MessageIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        message: Text = text_field(settings.api_max_message_chars)
        conversation_id: Uuid | None = None
        stream: StrictBool = False  # "yes" or 0 are refused, not read as a bool

    class SearchIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        query: Text = text_field(settings.api_max_message_chars)
        k: WholeNumber = Field(default=settings.search_k, ge=1, le=settings.api_max_k)
        filters: Filters | None = None
        mode: Literal["hybrid", "vector"] = "hybrid"

    app = _new_app(settings)
    _add_health(app, pool)
    _, chatbot = caller_dependencies(settings, pool)
    Bot = Annotated[Chatbot, Depends(chatbot)]

    @app.post(
        "/v1/chatbots/{chatbot_id}/messages",
        response_model=AnswerOut,
        responses={200: {"content": event_stream(AnswerOut)}, **MESSAGE_ERRORS},
        summary="Answer a message, with citations (SSE with stream=true)",
    )
    def post_message(body: MessageIn, bot: Bot) -> Any:
        kwargs: dict[str, Any] = {
            "chatbot": bot,
            "message": body.message,
            "conversation_id": str(body.conversation_id) if body.conversation_id else None,
        }
        if not body.stream:
            return answer_json(answer(pool, settings, **kwargs))
        return stream_answer(pool, settings, **kwargs)

    @app.post(
        "/v1/chatbots/{chatbot_id}/search",
        response_model=SearchOut,
        responses=ANSWER_ERRORS,
        summary="Search the chatbot's documents and FAQs",
    )
    def post_search(body: SearchIn, bot: Bot) -> Any:
        hits = search(
            pool,
            settings,
            chatbot=bot,
            query=body.query,
            k=body.k,
            filters=body.filters.to_filters() if body.filters else None,
            mode=body.mode,
        )
        return {"hits": [hit_json(h) for h in hits]}

    return app


def _new_app(settings: Settings) -> FastAPI:
    """The app, its body and nesting limits, and the one error mapping (errors.py)."""
    app = FastAPI(
        title="Intaj retrieval API",
        version="1",
        description="Answers and search over one chatbot's knowledge. See docs/api.md.",
        responses=responses(413, 503),  # every route: the body limit, the database
        strict_content_type=False,  # a body without Content-Type is read as JSON
    )
    app.add_middleware(
        RequestLimits, max_body_bytes=settings.api_max_body_bytes, max_depth=MAX_JSON_DEPTH
    )
    http_errors.install(app)
    return app


def _add_health(app: FastAPI, pool: ConnectionPool) -> None:
    @app.get("/healthz", response_model=HealthOut, summary="The API and its database are up")
    def healthz() -> Any:
        try:
            with pool.connection(timeout=5) as conn:
                conn.execute("SELECT 1")
        except Exception:
            log.exception("health check failed")
            return JSONResponse(
                error_body("database_unavailable", "the database does not answer"), 503
            )
        return {"status": "ok"}


def stream_answer(
    pool: ConnectionPool,
    settings: Settings,
    *,
    shape: Callable[[Answer], dict[str, Any]] = answer_json,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> StreamingResponse:
    """The answer as SSE (``delta`` events, without bidi controls, then ``done`` with
    ``shape(answer)``); ``kwargs`` go to :func:`retrieval.answer.answer_stream`. Also serves
    the website widget (widget.py)."""
    events = answer_stream(pool, settings, **kwargs)
    first = next(events)  # retrieval happens here: its errors get their HTTP status
    return StreamingResponse(
        _sse(chain([first], events), shape),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
    )


def _sse(
    events: Iterator[str | Answer], shape: Callable[[Answer], dict[str, Any]]
) -> Iterator[str]:
    try:
        for event in events:
            if isinstance(event, str):
                yield f"event: delta\ndata: {json.dumps({'text': strip_bidi(event)})}\n\n"
            else:
                yield f"event: done\ndata: {json.dumps(shape(event))}\n\n"
    except errors.IntajError as e:
        log.warning("stream failed: %s", e.message)
        yield f"event: error\ndata: {json.dumps(error_body(e.code, e.message))}\n\n"
