"""`intaj eval` on a real ingest: a three-section page, its FAQs and a questions file, with
the numbers checked by hand (which section answers what is plain from the text)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from tests.cli import intaj

PAGE = """<html><head><title>Northwind Bikes</title></head><body>
<section><h2>Opening hours</h2><p>The Harbour Street shop opens at eight in the morning and
closes at six in the evening from Monday to Saturday. On Sundays the workshop stays closed,
but the rental desk hands out bikes from ten until four.</p></section>
<section><h2>Rentals</h2><p>Every rental bike comes with a helmet, a lock and a repair kit.
Children under twelve ride free when an adult rents a touring bike for the whole day.</p>
</section>
<section><h2>Repairs</h2><p>Puncture repairs are done while you wait for twelve euros. A full
service takes two working days and includes new brake pads and a chain check.</p></section>
</body></html>"""

QUESTIONS = [
    {"question": "When does the shop open on weekdays?",
     "answer": "opens at eight in the morning and closes at six in the evening"},
    {"question": "How much does a puncture repair cost?",
     "answer": "Puncture repairs are done while you wait for twelve euros."},
    {"question": "Is a helmet included when I rent a bike?",
     "answer": "Every rental bike comes with a helmet, a lock and a repair kit.",
     "source": "shop.html"},
    # the answer is in the page, but the question names another file: no passage qualifies
    {"question": "Do children pay for a bike?",
     "answer": "Children under twelve ride free when an adult rents a touring bike",
     "source": "elsewhere.html"},
    {"question": "What is the capital of Peru?", "answer": None},
    {"question": "How do I bake sourdough bread?"},
]  # fmt: skip


@pytest.fixture(scope="module")
def shop(
    pool: ConnectionPool, prefect_server: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    page = tmp_path_factory.mktemp("eval") / "shop.html"
    page.write_text(PAGE, encoding="utf-8")
    name = f"eval-{uuid.uuid4().hex[:6]}"
    code, out = intaj("ingest", str(page), "--chatbot", name, "--json")
    assert code == 0, out
    assert out["sources"][0]["chunks"] == 3  # one chunk per <section>
    yield name
    with pool.connection() as conn:
        conn.execute("DELETE FROM chatbots WHERE name = %s", (name,))


def test_eval_scores_a_questions_file(shop: str, tmp_path: Path) -> None:
    file = tmp_path / "questions.jsonl"
    file.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    code, out = intaj("eval", "--chatbot", shop, "--questions", str(file), "--json")
    assert code == 0, out
    assert [r["rank"] for r in out["results"]] == [1, 1, 1, None, None, None]
    assert (out["answerable"], out["unanswerable"]) == (4, 2)
    assert (out["recall@1"], out["recall@5"], out["mrr@10"]) == (0.75, 0.75, 0.75)
    assert out["abstention_rate"] == 1.0  # both off-topic questions would abstain
    assert out["false_abstention_rate"] == 0.0  # every answerable one is confident enough


def test_eval_defaults_to_the_chatbots_faqs_against_its_documents(shop: str) -> None:
    # An FAQ whose answer no document holds must not be found: the FAQ entries themselves
    # (which hold their answers) are left out of the search.
    for question, answer in [
        ("Are you open on Sunday?", "the rental desk hands out bikes from ten until four"),
        ("Do you sell gift vouchers?", "Gift vouchers are sold at the counter in any amount."),
    ]:
        code, out = intaj("faq", "add", "--chatbot", shop, "--question", question,
                          "--answer", answer)  # fmt: skip
        assert code == 0, out
    code, out = intaj("eval", "--chatbot", shop, "--json")
    assert code == 0, out
    assert [r["rank"] for r in out["results"]] == [1, None]
    assert (out["questions"], out["recall@5"], out["mrr@10"]) == (2, 0.5, 0.5)
    assert out["abstention_rate"] is None  # no unanswerable questions among FAQs

    code, text = intaj("eval", "--chatbot", shop)
    assert code == 0, text
    assert "2 answerable: recall@1 0.500  recall@5 0.500  MRR@10 0.500" in text


def test_eval_explains_what_is_wrong(shop: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine"}\nnot json\n', encoding="utf-8")
    code, out = intaj("eval", "--chatbot", shop, "--questions", str(bad))
    assert code == 2
    assert "bad.jsonl:2" in out
    code, out = intaj("eval", "--chatbot", f"none-{uuid.uuid4().hex[:6]}")
    assert code == 2 and "no chatbot named" in out
