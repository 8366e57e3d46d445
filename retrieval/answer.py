"""Answering a chatbot's incoming message from its knowledge, with citations.

1. Search the chatbot's FAQs and document chunks together.
2. An FAQ whose question matches the message above ``faq_direct_threshold`` answers directly,
   cited as the FAQ.
3. When the best hit is below ``abstain_threshold``, abstain: the chatbot's fallback text, or
   a clear "not in the provided knowledge" reply.
4. Otherwise, with an LLM configured for the chatbot (retrieval/generate.py), generate the
   answer from the best passages and the conversation's history, citing them as [n]; an LLM
   failure before any text falls back to step 5.
5. Without one, answer extractively: the sentences of the best passages that are
   closest to the message, each with its [n] citation marker. Document text is untrusted
   like model output: links and images to hosts not allowed are removed (retrieval/output.py).
Both turns are stored in ``messages`` (the citations and confidence in the answer's metadata).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
from psycopg_pool import ConnectionPool

from core import metrics
from core.errors import GenerationError
from core.settings import Settings
from core.types import Answer, Hit
from db import messages as messages_db
from db.chatbots import Chatbot
from pipeline import plans
from pipeline.embed.calibration import calibrated
from retrieval import generate, prompt
from retrieval.abstention import Verdict, verdict
from retrieval.abstention import confidence as best_score
from retrieval.extract import answer_text, cite, extract
from retrieval.language import ARABIC, detect
from retrieval.output import cited_numbers, clean
from retrieval.search import Scope, scope_of, search

log = logging.getLogger(__name__)

NOT_FOUND = (
    "I could not find this in the provided knowledge. Please rephrase your question or"
    " contact a human agent."
)
# The abstention reply to a message in Arabic (retrieval/language.py tells which).
NOT_FOUND_AR = (
    "لا أجد إجابة عن هذا في المعلومات المتوفرة لدي. يرجى إعادة صياغة سؤالك أو التواصل مع"
    " أحد موظفي خدمة العملاء."
)


def answer(
    pool: ConnectionPool,
    settings: Settings,
    *,
    chatbot: Chatbot,
    message: str,
    conversation_id: str | None = None,
    k: int | None = None,
    record: bool = True,
) -> Answer:
    """THE entry point for answering (CLI, HTTP API, Python): FAQ first, abstention when
    retrieval is weak, else the chatbot's LLM when one is configured, else extractive."""
    *_, final = _on_plan(pool, settings, chatbot, record, _events(
        pool, settings, chatbot=chatbot, message=message,
        conversation_id=conversation_id, k=k, record=record, stream=False,
    ))  # fmt: skip
    assert isinstance(final, Answer)
    return final


def answer_stream(
    pool: ConnectionPool,
    settings: Settings,
    *,
    chatbot: Chatbot,
    message: str,
    conversation_id: str | None = None,
    k: int | None = None,
    record: bool = True,
) -> Iterator[str | Answer]:
    """:func:`answer`, streamed: text deltas (str), then the final :class:`Answer`, equal to
    what :func:`answer` returns for the same input. FAQ, abstained and extractive answers come
    as one delta."""
    return _on_plan(pool, settings, chatbot, record, _events(
        pool, settings, chatbot=chatbot, message=message,
        conversation_id=conversation_id, k=k, record=record, stream=True,
    ))  # fmt: skip


def _on_plan(
    pool: ConnectionPool,
    settings: Settings,
    chatbot: Chatbot,
    record: bool,
    events: Iterator[str | Answer],
) -> Iterator[str | Answer]:
    """With ``record``, the answer's ``events`` as one message of the owner's plan
    (pipeline/plans.py); the Answer comes last, once the conversation is recorded."""
    if not record:
        return events
    return plans.counted(
        pool, settings, user_id=chatbot.user_id, events=events,
        answered=lambda event: isinstance(event, Answer),
    )  # fmt: skip


def _events(
    pool: ConnectionPool,
    settings: Settings,
    *,
    chatbot: Chatbot,
    message: str,
    conversation_id: str | None,
    k: int | None,
    record: bool,
    stream: bool,
) -> Iterator[str | Answer]:
    scope = scope_of(chatbot, settings)
    settings = calibrated(settings, scope.embedder.model_name)
    conversation_id = conversation_id or str(uuid.uuid4())
    language = detect(message)
    vector = scope.embedder.embed_queries([message])[0]
    hits = search(
        pool, settings, chatbot=chatbot, query=message, k=k or settings.search_k,
        query_vector=vector, scope=scope,
    )  # fmt: skip
    decided = verdict(hits, settings, language)
    llm = None
    if decided.faq is None and not decided.abstain:
        with pool.connection() as conn:
            llm = generate.resolve(
                conn, settings, scope.chatbot, fallback=_fallback(scope, language)
            )
    info: dict[str, Any] = {"generator": "extractive"}
    if llm is None:
        result = compose(
            message_vector=vector, hits=hits, scope=scope, settings=settings, language=language,
            decided=decided,
        )  # fmt: skip
        yield result.answer
    else:
        emitted: list[str] = []
        try:
            result = yield from _generated(
                pool, settings, llm, scope, hits, message, conversation_id, stream, emitted
            )
            info = {"generator": "llm", "model": llm.model}
        except GenerationError as e:
            if emitted:
                raise
            log.warning("answering extractively: %s", e.message)
            result = compose(
                message_vector=vector, hits=hits, scope=scope, settings=settings, language=language
            )
            info["llm_error"] = e.code
            yield result.answer
    result = replace(result, conversation_id=conversation_id)
    metrics.answered(_outcome(decided, result, info))
    if record:
        _record(pool, chatbot_id=chatbot.id, message=message, result=result, info=info)
    yield result


def _outcome(decided: Verdict, result: Answer, info: dict[str, Any]) -> str:
    """What answered (core/metrics.py): an FAQ, an abstention, the LLM or the extraction."""
    if decided.faq is not None:
        return "faq"
    if result.abstained:
        return "abstained"
    return "llm" if info.get("generator") == "llm" else "extractive"


def _generated(
    pool: ConnectionPool,
    settings: Settings,
    llm: generate.LLM,
    scope: Scope,
    hits: Sequence[Hit],
    message: str,
    conversation_id: str,
    stream: bool,
    emitted: list[str],
) -> Generator[str, None, Answer]:
    count = scope.embedder.count_tokens
    relevant = [h for h in hits if h.score >= settings.passage_threshold] or list(hits[:1])
    passages = prompt.pack_passages(relevant, budget=settings.llm_context_tokens, count=count)
    with pool.connection() as conn:
        turns = messages_db.history(
            conn, chatbot_id=scope.chatbot.id, conversation_id=conversation_id
        )
    history = prompt.trim_history(turns, budget=settings.llm_history_tokens, count=count)
    messages = generate.messages_for(llm, question=message, passages=passages, history=history)
    replies = generate.respond(llm, messages, passages=len(passages), stream=stream)
    while True:
        try:
            piece = next(replies)
        except StopIteration as done:
            text = str(done.value)
            break
        emitted.append(piece)
        yield piece
    confidence = best_score(hits)
    if text.strip() == llm.fallback.strip():
        return Answer(answer=text, citations=(), confidence=confidence, abstained=True)
    numbers = cited_numbers(text, len(passages)) or list(range(1, len(passages) + 1))
    citations = tuple(c for c in cite(passages) if c.number in numbers)
    return Answer(answer=text, citations=citations, confidence=confidence, abstained=False)


def _fallback(scope: Scope, language: str | None = None) -> str:
    """The chatbot owner's ``fallback_text``, else our reply in the message's language."""
    default = NOT_FOUND_AR if language == ARABIC else NOT_FOUND
    return str(scope.chatbot.settings.get("fallback_text") or default)


def compose(
    *,
    message_vector: np.ndarray,
    hits: Sequence[Hit],
    scope: Scope,
    settings: Settings,
    language: str | None = None,
    decided: Verdict | None = None,
) -> Answer:
    """The answer without an LLM: the matching FAQ's, the abstention reply (in the message's
    ``language``, retrieval/language.py), or the extracted sentences (the knowledge's own
    words and language; nothing is added to them but [n] markers)."""
    decided = decided or verdict(hits, settings, language)
    top = decided.faq
    allow_hosts = generate.link_hosts(scope.chatbot, settings)
    if top is not None:
        # An FAQ's answer passes the same output filter as any other: markup and links to
        # hosts off the allow-list never reach a client that might render them.
        return Answer(
            answer=clean(
                f"{answer_text(top)} [1]",
                allow_hosts=allow_hosts,
                passages=1,
            ),
            citations=cite([top]),
            confidence=round(top.score, 4),
            abstained=False,
        )
    confidence = best_score(hits)
    if decided.abstain:
        fallback = _fallback(scope, language)
        return Answer(answer=fallback, citations=(), confidence=confidence, abstained=True)
    relevant = [h for h in hits if h.score >= settings.passage_threshold][:5]
    text, used = extract(message_vector, relevant, scope)
    return Answer(
        answer=clean(text, allow_hosts=allow_hosts, passages=len(used)),
        citations=cite(used),
        confidence=confidence,
        abstained=False,
    )


def _record(
    pool: ConnectionPool,
    *,
    chatbot_id: str,
    message: str,
    result: Answer,
    info: dict[str, Any] | None = None,
) -> None:
    assert result.conversation_id is not None
    with pool.connection() as conn:
        messages_db.add(
            conn,
            chatbot_id=chatbot_id,
            conversation_id=result.conversation_id,
            role="user",
            content=message,
        )
        messages_db.add(
            conn,
            chatbot_id=chatbot_id,
            conversation_id=result.conversation_id,
            role="assistant",
            content=result.answer,
            metadata={
                "citations": [asdict(c) for c in result.citations],
                "confidence": result.confidence,
                "abstained": result.abstained,
                **(info or {}),
            },
        )
