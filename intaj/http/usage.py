"""``GET /v1/chatbots/{id}/usage``: the plan of the chatbot's owner and what they use of each of
its limits (pipeline/plans.py; docs/plans.md), as ``intaj usage --json`` prints it; the
playground's usage panel reads it. Auth as the other owner routes: a Supabase user for their
own chatbots (any other is a 404), or a service key."""

# No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from core.settings import Settings
from db.chatbots import Chatbot
from intaj.http.api import caller_dependencies
from intaj.http.errors import responses
from pipeline.plans import usage, usage_json
from retrieval.bidi import strip_bidi


class UseOut(BaseModel):
    used: int | None  # None: not counted (the largest file is a limit on each file)
    allowed: int | None  # None: no limit


class OwnerLimitsOut(BaseModel):
    chatbots: UseOut
    messages_per_month: UseOut
    widgets: UseOut
    whatsapp_connections: UseOut
    file_bytes: UseOut


class ChatbotUseOut(BaseModel):
    id: str
    name: str
    sources_per_chatbot: UseOut
    bytes_per_chatbot: UseOut


class UsageOut(BaseModel):
    owner: str
    plan: str
    limits: OwnerLimitsOut
    chatbots: list[ChatbotUseOut]


_ERRORS = responses(401, 404, 413, 503)


def usage_routes(settings: Settings, pool: ConnectionPool) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["playground"])
    _, chatbot = caller_dependencies(settings, pool)
    Bot = Annotated[Chatbot, Depends(chatbot)]

    @router.get(
        "/chatbots/{chatbot_id}/usage",
        response_model=UsageOut,
        responses=_ERRORS,
        summary="The plan of the chatbot's owner and its usage",
    )
    def chatbot_usage(bot: Bot) -> Any:
        shown = usage_json(usage(pool, settings, ref=bot.user_id))
        for each in shown["chatbots"]:
            each["name"] = strip_bidi(each["name"])
        return shown

    return router
