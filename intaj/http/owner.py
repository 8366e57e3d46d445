"""What the playground reads about the caller's own chatbots (JSON; auth as the API's).

    GET /v1/chatbots                              the chatbots the caller may use
    GET /v1/chatbots/{id}/sources                 data sources, state and latest run
    GET /v1/chatbots/{id}/faqs                    FAQs
    GET /v1/chatbots/{id}/passages/{chunk_id}     one cited passage, whole
    GET /v1/chatbots/{id}/widgets                 website widgets and their origins
    PUT /v1/chatbots/{id}/language                {"language": "en"|"ar"|"multi"}: its
                                                  model, text search and replies (re-embeds
                                                  first when the model changes)

A Supabase user sees their own chatbots only; any other chatbot is a 404, as in
:mod:`intaj.http.api`. A service key sees every chatbot. Names, FAQs and passages come without
bidi controls (retrieval/bidi.py).
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict

from core.errors import NotFoundError
from core.ids import is_url
from core.settings import Settings
from db import chatbots as chatbots_db
from db import chunks as chunks_db
from db import connections as connections_db
from db import faqs as faqs_db
from db import runs as runs_db
from db import sources as sources_db
from db.chatbots import Chatbot
from intaj.http.api import caller_dependencies
from intaj.http.errors import ErrorInfo, responses
from retrieval.auth import Caller
from retrieval.bidi import strip_bidi, strip_bidi_json
from retrieval.generate import link_hosts
from retrieval.schemas import error_body


def source_name(path: str, name: str | None = None) -> str:
    """What a person calls a source: its name, a URL as it is, else the file name of its path
    (a stored file's path ends with the original file name); without bidi controls, which
    could disguise it (``a<RLO>fdp.exe`` shown as ``aexe.pdf``)."""
    if name:
        return strip_bidi(name)
    if is_url(path):
        return strip_bidi(path)
    if path.startswith("faq:"):
        return "FAQ"
    return strip_bidi(path.rstrip("/").rsplit("/", 1)[-1])


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class LanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "ar", "multi"]


# What the routes answer (declared in OpenAPI; the replies are built as plain dicts)
class ChatbotOut(BaseModel):
    id: str
    name: str
    language: str
    link_hosts: list[str]


class ChatbotsOut(BaseModel):
    chatbots: list[ChatbotOut]


class SourceOut(BaseModel):
    id: str
    name: str
    type: str
    status: str
    chunks: int
    error: str | None
    error_code: str | None
    last_ingested_at: str | None
    run: dict[str, Any] | None


class SourcesOut(BaseModel):
    sources: list[SourceOut]


class FaqOut(BaseModel):
    id: str
    question: str
    answer: str


class FaqsOut(BaseModel):
    faqs: list[FaqOut]


class PassageOut(BaseModel):
    content: str
    metadata: dict[str, Any]
    source: str
    source_name: str


class WidgetOut(BaseModel):
    id: str
    allowed_origins: list[str]


class WidgetsOut(BaseModel):
    widgets: list[WidgetOut]


class LanguageOut(BaseModel):
    id: str
    language: str
    previous: str
    text_search: str
    embedding_model: str
    reembed: dict[str, Any] | None


class LanguageConflictOut(LanguageOut):
    """409: the re-embedding a new model needs failed; the chatbot stays as it was."""

    error: ErrorInfo


def ok(model: type[BaseModel], *errors: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route answering ``model``, or one of ``errors``."""
    return {200: {"model": model, "description": "OK"}, **responses(*errors)}


LANGUAGE = {
    **ok(LanguageOut, 401, 404, 415, 422),
    409: {"model": LanguageConflictOut, "description": "Re-embedding failed; nothing changed"},
}


def owner_routes(settings: Settings, pool: ConnectionPool) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["playground"])
    caller, chatbot = caller_dependencies(settings, pool)
    Who = Annotated[Caller, Depends(caller)]
    Bot = Annotated[Chatbot, Depends(chatbot)]

    @router.get("/chatbots", responses=ok(ChatbotsOut, 401), summary="The caller's chatbots")
    def list_chatbots(who: Who) -> Any:
        with pool.connection() as conn:
            bots = chatbots_db.list_for(conn, user_id=None if who.service else who.user_id)
        listed = [{"id": b.id, "name": strip_bidi(b.name), "language": b.language_code,
                   "link_hosts": list(link_hosts(b, settings))} for b in bots]  # fmt: skip
        return {"chatbots": listed}

    @router.put("/chatbots/{chatbot_id}/language", responses=LANGUAGE, summary="Set its language")
    def set_language(body: LanguageIn, bot: Bot) -> Any:
        return _language_changed(pool, settings, bot, body.language)

    _knowledge_routes(router, pool, chatbot)
    return router


def _knowledge_routes(
    router: APIRouter, pool: ConnectionPool, chatbot: Callable[..., Chatbot]
) -> None:
    """What a chatbot knows and where it answers: sources, FAQs, passages, widgets."""
    Bot = Annotated[Chatbot, Depends(chatbot)]

    @router.get(
        "/chatbots/{chatbot_id}/sources",
        responses=ok(SourcesOut, 401, 404),
        summary="Data sources and their ingestion",
    )
    def list_sources(bot: Bot) -> Any:
        with pool.connection() as conn:
            sources = sources_db.list_for(conn, chatbot_id=bot.id)
            runs = runs_db.latest_by_source(conn, chatbot_id=bot.id)
        return {"sources": [_source_json(s, runs.get(s.id)) for s in sources]}

    @router.get("/chatbots/{chatbot_id}/faqs", responses=ok(FaqsOut, 401, 404), summary="FAQs")
    def list_faqs(bot: Bot) -> Any:
        with pool.connection() as conn:
            faqs = faqs_db.list_for(conn, chatbot_id=bot.id)
        listed = [{"id": f.id, "question": strip_bidi(f.question), "answer": strip_bidi(f.answer)}
                  for f in faqs]  # fmt: skip
        return {"faqs": listed}

    @router.get(
        "/chatbots/{chatbot_id}/passages/{chunk_id}",
        responses=ok(PassageOut, 401, 404, 422),
        summary="One passage, whole",
    )
    def get_passage(chunk_id: int, bot: Bot) -> Any:
        with pool.connection() as conn:
            found = chunks_db.passage(conn, chatbot_id=bot.id, chunk_id=chunk_id)
        if found is None:
            raise NotFoundError("passage not found")
        content, metadata, source = found
        return {"content": strip_bidi(content), "metadata": strip_bidi_json(metadata),
                "source": strip_bidi(source), "source_name": source_name(source)}  # fmt: skip

    @router.get(
        "/chatbots/{chatbot_id}/widgets",
        responses=ok(WidgetsOut, 401, 404),
        summary="Website widgets of the chatbot",
    )
    def list_widgets(bot: Bot) -> Any:
        with pool.connection() as conn:
            widgets = connections_db.widgets_for(conn, chatbot_id=bot.id)
        return {"widgets": [{"id": w.id, "allowed_origins": list(w.allowed_origins)}
                            for w in widgets]}  # fmt: skip


def _language_changed(pool: ConnectionPool, settings: Settings, bot: Chatbot, code: str) -> Any:
    """Move ``bot`` to language ``code``; its new model and text search, or 409 when the
    re-embedding a new model needs failed (the chatbot stays as it was)."""
    from pipeline.embed import model_of
    from pipeline.languages import change_language

    changed = change_language(pool, settings, bot, code)
    out = {
        "id": bot.id,
        "language": changed.chatbot.language_code,
        "previous": changed.previous,
        "text_search": changed.chatbot.language,
        "embedding_model": model_of(changed.chatbot, settings),
        "reembed": changed.reembed,
    }
    if changed.error is not None:
        failed = error_body("reembed_incomplete", changed.error)
        return JSONResponse({**out, **failed}, status_code=409)
    return out


def _source_json(source: sources_db.DataSource, run: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": source.id,
        "name": source_name(source.path, source.name),
        "type": source.type,
        "status": source.status,
        "chunks": source.chunk_count,
        "error": strip_bidi(source.error) if source.error else source.error,
        "error_code": source.error_code,
        "last_ingested_at": _when(source.last_ingested_at),
        "run": None if run is None else {
            **{k: run[k] for k in ("status", "stage", "chunks", "embedded", "reused", "error")},
            **{k: _when(run[k]) for k in ("started_at", "heartbeat_at", "finished_at")},
        },
    }  # fmt: skip
