"""Answers from the sample knowledge: FAQ first, extractive passages with citations otherwise,
abstention when nothing matches; every turn is recorded in `messages`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from core.settings import Settings
from db import chatbots as chatbots_db
from db import messages as messages_db
from db.chatbots import Chatbot
from intaj.cli import app
from pipeline.embed import Embedder
from pipeline.sentences import sentences
from retrieval.answer import NOT_FOUND_AR, answer
from retrieval.language import detect
from tests.conftest import EXAMPLES
from tests.knowledge import add_document, tenants

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(pool: ConnectionPool, prefect_server: None) -> Iterator[Chatbot]:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    docs = [str(EXAMPLES / n) for n in ("northwind-handbook.pdf", "northwind-about.html")]
    assert runner.invoke(app, ["ingest", *docs, "--chatbot", name]).exit_code == 0
    faqs = runner.invoke(app, ["faq", "import", str(EXAMPLES / "faqs.csv"), "--chatbot", name])
    assert faqs.exit_code == 0, faqs.output
    with pool.connection() as conn:
        bot = chatbots_db.find(conn, ref=name)
    assert bot is not None
    yield bot
    with pool.connection() as conn:
        chatbots_db.delete(conn, chatbot_id=bot.id)


def test_a_verbatim_faq_question_is_answered_from_the_faq(
    pool: ConnectionPool, settings: Settings, shop: Chatbot
) -> None:
    result = answer(
        pool, settings, chatbot=shop,
        message="Can I cancel my rental booking and get a refund?",
    )  # fmt: skip
    assert not result.abstained
    assert [c.source[:4] for c in result.citations] == ["faq:"]
    assert result.answer.startswith("Yes. Cancel at least 24 hours before")
    assert result.answer.endswith("[1]")


def test_a_document_question_is_answered_with_cited_passages(
    pool: ConnectionPool, settings: Settings, shop: Chatbot
) -> None:
    result = answer(pool, settings, chatbot=shop, message="Who started Northwind Bikes?")
    assert not result.abstained
    assert "Marta Okafor" in result.answer
    cited = [c for c in result.citations if "Marta Okafor" in c.snippet]
    assert cited and cited[0].source.endswith("northwind-about.html")
    assert all(f"[{c.number}]" in result.answer for c in result.citations)


def test_a_question_outside_the_knowledge_abstains(
    pool: ConnectionPool, settings: Settings, shop: Chatbot
) -> None:
    result = answer(pool, settings, chatbot=shop, message="What is the boiling point of tungsten?")
    assert result.abstained
    assert result.citations == ()
    assert "could not find" in result.answer


def test_both_turns_are_recorded_in_one_conversation(
    pool: ConnectionPool, settings: Settings, shop: Chatbot
) -> None:
    first = answer(pool, settings, chatbot=shop, message="Who started Northwind Bikes?")
    answer(
        pool, settings, chatbot=shop, message="Do you rent e-bikes?",
        conversation_id=first.conversation_id,
    )  # fmt: skip
    assert first.conversation_id is not None
    with pool.connection() as conn:
        turns = messages_db.history(conn, chatbot_id=shop.id, conversation_id=first.conversation_id)
        meta = conn.execute(
            "SELECT metadata FROM messages WHERE conversation_id = %s AND role = 'assistant'"
            " ORDER BY created_at LIMIT 1",
            (first.conversation_id,),
        ).fetchone()
    assert [role for role, _ in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0][1] == "Who started Northwind Bikes?"
    assert meta is not None and meta[0]["citations"][0]["source"].startswith(shop.id)


def test_sentences_join_layout_line_breaks() -> None:
    text = (
        "Late returns\nBikes returned late are charged a late fee for every started\n"
        "30 minutes: $15 per period for e-bikes. Call us first.\n\nNew part here."
    )
    assert sentences(text) == [
        "Bikes returned late are charged a late fee for every started 30 minutes:"
        " $15 per period for e-bikes."
    ]
    # short fragments ("Call us first.", "New part here.") are not answer material


def test_arabic_sentences_end_at_arabic_punctuation() -> None:
    text = (
        "هل يمكنني إلغاء حجز الدراجة قبل موعده؟ نعم، يمكنك الإلغاء قبل ٢٤ ساعة من الموعد؛"
        " يُعاد المبلغ كاملاً خلال خمسة أيام عمل. رسوم التأخير ١٫٥ دينار عن كل نصف ساعة."
        " اتصل بنا على الرقم المذكور في الموقع، أو راسل د. أحمد مباشرة لترتيب التمديد."
    )
    assert sentences(text) == [
        "هل يمكنني إلغاء حجز الدراجة قبل موعده؟",
        "نعم، يمكنك الإلغاء قبل ٢٤ ساعة من الموعد؛",  # ، is a comma: the sentence goes on
        "يُعاد المبلغ كاملاً خلال خمسة أيام عمل.",  # . before an Arabic letter ends one
        "رسوم التأخير ١٫٥ دينار عن كل نصف ساعة.",  # ١٫٥ is one number
        "اتصل بنا على الرقم المذكور في الموقع، أو راسل د. أحمد مباشرة لترتيب التمديد.",
    ]


def test_mixed_arabic_and_english_passages_split_at_both_kinds_of_punctuation() -> None:
    text = (
        "Rentals start at 9:00 every day of the week. يبدأ التأجير في التاسعة صباحاً كل يوم۔"
        " Late returns cost 15 dollars per half hour."
    )
    assert sentences(text) == [
        "Rentals start at 9:00 every day of the week.",
        "يبدأ التأجير في التاسعة صباحاً كل يوم۔",
        "Late returns cost 15 dollars per half hour.",
    ]


def test_a_question_in_arabic_outside_the_knowledge_abstains_in_arabic(
    pool: ConnectionPool, settings: Settings, shop: Chatbot
) -> None:
    result = answer(pool, settings, chatbot=shop, message="ما هي درجة غليان التنغستن؟")
    assert result.abstained and result.citations == ()
    assert result.answer == NOT_FOUND_AR
    assert detect(result.answer) == "ar"


def test_an_arabic_answer_is_extracted_from_arabic_knowledge(
    pool: ConnectionPool, settings: Settings, embedder: Embedder
) -> None:
    late = "تبلغ رسوم التأخير ١٥ دولاراً عن كل نصف ساعة تأخير في إعادة الدراجة."
    passage = f"كل تأجير يشمل خوذة مجانية وقفلاً للدراجة؛ {late} يمكن تمديد الإيجار بالهاتف."
    # whatever the model makes of Arabic, the answer is extracted, not abstained
    anyway = settings.model_copy(update={"abstain_threshold": 0, "passage_threshold": 0})
    with tenants(pool, "arabic") as (bot,):
        add_document(pool, embedder, bot, "rentals-ar.txt", [passage])
        result = answer(pool, anyway, chatbot=bot, message="كم تبلغ رسوم التأخير في إعادة الدراجة؟")
    assert not result.abstained
    assert f"{late} [1]" in result.answer  # the Arabic sentence, whole, with its citation
    assert not re.search(r"[A-Za-z]", result.answer)  # no English framing around it


def test_a_sentence_found_in_two_copies_of_a_document_is_said_once(
    pool: ConnectionPool, settings: Settings, embedder: Embedder
) -> None:
    late = "Late e-bikes are charged 15 dollars for every started half hour."
    # two versions of a handbook, chunked differently, the sentence in both
    old = [f"{late} Extensions are granted by phone when the bike is free."]
    new = [f"Every rental includes a helmet. {late}"]
    with tenants(pool, "two-copies") as (bot,):
        add_document(pool, embedder, bot, "handbook.pdf", old)
        add_document(pool, embedder, bot, "handbook (1).pdf", new)
        result = answer(pool, settings, chatbot=bot, message="What do late e-bikes cost?")
    assert result.answer.count(late) == 1
