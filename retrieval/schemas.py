"""The JSON the HTTP API reads and writes (pydantic models; docs/api.md): request filters,
answers, hits and errors. No FastAPI here: ``intaj/http/api.py`` serves them."""

# No `from __future__ import annotations`: pydantic reads the annotations at runtime.

import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.types import Answer, Hit
from db.search import Filters
from retrieval.bidi import strip_bidi, strip_bidi_json


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, Field(min_length=1), AfterValidator(_text)]


class SearchFilters(BaseModel):
    """Allow-listed filters; each narrows the chatbot's own knowledge, nothing widens it."""

    model_config = ConfigDict(extra="forbid")
    source_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    source_types: (
        list[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]] | None
    ) = Field(default=None, max_length=20)  # fmt: skip
    kinds: list[Literal["document", "faq"]] | None = Field(default=None, max_length=2)

    def to_filters(self) -> Filters:
        return Filters(
            source_ids=tuple(str(s) for s in self.source_ids) if self.source_ids else None,
            source_types=tuple(self.source_types) if self.source_types else None,
            kinds=tuple(self.kinds) if self.kinds else None,
        )


class CitationOut(BaseModel):
    number: int
    source: str
    metadata: dict[str, Any]
    snippet: str
    score: float
    chunk_id: int | None = None


class AnswerOut(BaseModel):
    answer: str
    citations: list[CitationOut]
    confidence: float
    abstained: bool
    conversation_id: str | None


class HitOut(BaseModel):
    content: str
    score: float
    source: str
    metadata: dict[str, Any]


class SearchOut(BaseModel):
    hits: list[HitOut]


class ErrorOut(BaseModel):
    error: dict[str, Any]


def answer_json(result: Answer) -> dict[str, Any]:
    """The answer as the API gives it: no bidi controls in its text, sources or snippets
    (retrieval/bidi.py)."""
    return {
        "answer": strip_bidi(result.answer),
        "citations": [strip_bidi_json(asdict(c)) for c in result.citations],
        "confidence": result.confidence,
        "abstained": result.abstained,
        "conversation_id": result.conversation_id,
    }


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "content": strip_bidi(hit.content),
        "score": round(hit.score, 4),
        "source": strip_bidi(hit.source),
        "metadata": strip_bidi_json(hit.metadata),
    }
