"""Answer generation with an LLM through the ``openai`` client: OpenAI itself or any
OpenAI-compatible server (Mistral, vLLM, Ollama...) by base URL.

Which model and where (:func:`resolve`):

- model: the chatbot's ``model`` column, else its connection's ``model``, else ``llm_model``;
- key and base URL, as one pair (an operator's key is never sent to a chatbot-chosen host):
  the chatbot's active ``connections`` row of platform ``openai`` (``api_key``, ``base_url``;
  the chatbot's ``settings.base_url`` may fill a missing ``base_url``), else the settings
  (``llm_api_key``/``llm_base_url``, defaulting to ``OPENAI_API_KEY``/``OPENAI_BASE_URL``);
- temperature, max_tokens, system_prompt, language and fallback_text from the chatbot's
  ``settings`` jsonb, else the ``llm_*`` settings.

No model, or neither a key nor a base URL: None, and the caller answers extractively.
:func:`respond` yields the cleaned text (:mod:`retrieval.output`) as it streams and returns
the full text; the citations are built by the caller.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg

from core.crypto import keyring_for
from core.errors import GenerationError
from core.settings import Settings
from core.types import Hit
from db import connections as connections_db
from db.chatbots import Chatbot
from retrieval.output import OutputFilter
from retrieval.prompt import Message, build_messages

PLATFORM = "openai"


@dataclass(frozen=True)
class LLM:
    """One chatbot's model and how to reach it. The key never appears in repr or logs."""

    model: str
    base_url: str | None
    api_key: str = field(repr=False)
    temperature: float
    max_tokens: int
    timeout: float
    max_retries: int
    fallback: str
    instructions: str | None = None
    language: str | None = None
    allow_hosts: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return urlsplit(self.base_url).netloc if self.base_url else "api.openai.com"


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def _number(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def resolve(
    conn: psycopg.Connection, settings: Settings, bot: Chatbot, *, fallback: str
) -> LLM | None:
    """The LLM that answers for ``bot``, or None when none is configured."""
    prefs: dict[str, Any] = bot.settings if isinstance(bot.settings, dict) else {}
    creds = connections_db.credentials(
        conn, chatbot_id=bot.id, platform=PLATFORM, keyring=lambda: keyring_for(settings)
    )
    if creds is not None:
        key = _secret(creds.get("api_key"))
        base_url = creds.get("base_url") or prefs.get("base_url")
    else:
        key = _secret(settings.llm_api_key) or _secret(settings.openai_api_key)
        base_url = settings.llm_base_url or settings.openai_base_url
    model = bot.model or (creds or {}).get("model") or settings.llm_model
    if not model or not (key or base_url):
        return None
    return LLM(
        model=str(model),
        base_url=str(base_url) if base_url else None,
        api_key=key or "not-needed",  # local servers (Ollama, vLLM) accept any key
        temperature=_number(prefs.get("temperature"), settings.llm_temperature),
        max_tokens=int(_number(prefs.get("max_tokens"), settings.llm_max_tokens)),
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        fallback=str(prefs.get("fallback_text") or fallback),
        instructions=prefs.get("system_prompt") or None,
        language=prefs.get("language") or None,
        allow_hosts=link_hosts(bot, settings),
    )


def link_hosts(bot: Chatbot, settings: Settings) -> tuple[str, ...]:
    """Hosts an answer may link to: the settings' and the chatbot's ``link_allow_hosts``."""
    prefs: dict[str, Any] = bot.settings if isinstance(bot.settings, dict) else {}
    hosts = prefs.get("link_allow_hosts")
    own = [h for h in hosts if isinstance(h, str)] if isinstance(hosts, list) else []
    return (*settings.llm_link_allow_hosts, *own)


def messages_for(
    llm: LLM, *, question: str, passages: Sequence[Hit], history: Sequence[Message]
) -> list[Message]:
    return build_messages(
        question=question,
        passages=passages,
        history=history,
        fallback=llm.fallback,
        instructions=llm.instructions,
        language=llm.language,
    )


def respond(
    llm: LLM, messages: list[Message], *, passages: int, stream: bool
) -> Generator[str, None, str]:
    """Yield the answer's cleaned text deltas; return the whole cleaned text. With
    ``stream=False`` the model answers in one request and the text comes as one delta. The
    joined deltas always equal the returned text, streamed or not."""
    f = OutputFilter(allow_hosts=llm.allow_hosts, passages=passages)
    parts: list[str] = []
    raw = _stream(llm, messages) if stream else iter([_complete(llm, messages)])
    for delta in raw:
        piece = f.feed(delta)
        if piece:
            parts.append(piece)
            yield piece
    tail = f.flush()
    if not "".join(parts) and not tail:
        tail = llm.fallback  # an empty (or entirely unsafe) reply
    if tail:
        parts.append(tail)
        yield tail
    return "".join(parts)


def _client(llm: LLM) -> Any:
    from openai import OpenAI

    return OpenAI(
        api_key=llm.api_key,
        base_url=llm.base_url,
        timeout=llm.timeout,
        max_retries=llm.max_retries,
    )


def _request(llm: LLM, messages: list[Message]) -> dict[str, Any]:
    return {
        "model": llm.model,
        "messages": messages,
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens,
    }


def _failed(llm: LLM, e: Exception) -> GenerationError:
    status = getattr(e, "status_code", None)
    detail = f"HTTP {status}" if status else type(e).__name__
    return GenerationError(
        f"the language model {llm.model!r} at {llm.where} failed ({detail}); check the"
        " chatbot's model, key and base URL, or try again",
        code="generation_unauthorized" if status in (401, 403) else None,
        transient=status not in (400, 401, 403, 404),
    )


def _complete(llm: LLM, messages: list[Message]) -> str:
    import openai

    try:
        with _client(llm) as client:
            reply = client.chat.completions.create(**_request(llm, messages))
    except openai.OpenAIError as e:
        raise _failed(llm, e) from None  # its message may quote the key
    if not reply.choices:
        return ""
    return str(reply.choices[0].message.content or "")


def _stream(llm: LLM, messages: list[Message]) -> Iterator[str]:
    import openai

    try:
        with _client(llm) as client:
            chunks = client.chat.completions.create(**_request(llm, messages), stream=True)
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
    except openai.OpenAIError as e:
        raise _failed(llm, e) from None  # its message may quote the key
