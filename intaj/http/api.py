"""The HTTP API of the chatbot runtime (FastAPI). Routes, auth and limits: docs/api.md.

    POST /v1/chatbots/{id}/messages   answer a message (JSON, or SSE with "stream": true)
    POST /v1/chatbots/{id}/search     search the chatbot's knowledge
    GET  /healthz                     the database answers

Every route but ``/healthz`` needs a caller (:mod:`retrieval.auth`) who may use the chatbot;
any other chatbot is a 404, like one that does not exist. Input is checked before any work:
body size (413, from Content-Length and while reading), JSON nesting, unknown keys, lengths
and ranges (422). Errors are ``{"error": {"code", "message"}}`` with a stable code.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime,
# and the request models are built per app (their limits come from the settings).
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import errors
from core.settings import Settings
from core.types import Answer
from db.chatbots import Chatbot
from intaj.http import errors as http_errors
from retrieval.answer import answer, answer_stream
from retrieval.auth import Caller, authenticate, authorize
from retrieval.bidi import strip_bidi
from retrieval.schemas import (
    AnswerOut,
    ErrorOut,
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
        message: Text = Field(max_length=settings.api_max_message_chars)
        conversation_id: uuid.UUID | None = None
        stream: StrictBool = False  # "yes" or 0 are refused, not read as a bool

    class SearchIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        query: Text = Field(max_length=settings.api_max_message_chars)
        k: StrictInt = Field(default=settings.search_k, ge=1, le=settings.api_max_k)
        filters: SearchFilters | None = None
        mode: Literal["hybrid", "vector"] = "hybrid"

    app = _new_app(settings)
    _add_health(app, pool)
    _, chatbot = caller_dependencies(settings, pool)
    Bot = Annotated[Chatbot, Depends(chatbot)]

    @app.post(
        "/v1/chatbots/{chatbot_id}/messages",
        response_model=AnswerOut,
        responses={200: {"content": {"text/event-stream": {}}}},
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
        responses={k: {"model": ErrorOut} for k in (401, 404, 413, 422)},
    )
    app.add_middleware(
        RequestLimits, max_body_bytes=settings.api_max_body_bytes, max_depth=MAX_JSON_DEPTH
    )
    http_errors.install(app)
    return app


def _add_health(app: FastAPI, pool: ConnectionPool) -> None:
    @app.get("/healthz", summary="The API and its database are up")
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


class RequestLimits:
    """ASGI middleware: bodies over ``max_body_bytes`` get 413 (from Content-Length before
    reading, else as soon as the read passes the limit), and JSON nested deeper than
    ``max_depth`` gets 422, before any route runs."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_depth: int) -> None:
        self.app, self.max_body_bytes, self.max_depth = app, max_body_bytes, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._reply(send, 413, "payload_too_large", self._too_large)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._reply(send, 413, "payload_too_large", self._too_large)
                return
            if not message.get("more_body", False):
                break
        if json_depth(bytes(body)) > self.max_depth:
            text = f"the JSON body is nested deeper than {self.max_depth} levels"
            await self._reply(send, 422, "invalid_request", text)
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    @property
    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"

    @staticmethod
    async def _reply(send: Send, status: int, code: str, message: str) -> None:
        payload = json.dumps(error_body(code, message)).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
            (b"connection", b"close"),
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # disconnect notices, for streamed responses

    return replay


def json_depth(data: bytes) -> int:
    """How deeply ``[``/``{`` nest in ``data`` (outside strings); any bytes."""
    brackets = data.count(b"[") + data.count(b"{")
    if brackets <= 1:
        return brackets  # an upper bound is enough here
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
