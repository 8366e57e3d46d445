"""The benchmark's retrieval scoring rule (bench/scoring.py) on tiny hand-made examples."""

from __future__ import annotations

import pytest

from bench.scoring import Retrieved, first_hit_rank, is_hit, ngrams, score, words

ANSWER = "Use the sorted function to sort a list; it returns a new list and leaves the original."


def test_words_are_lowercase_alphanumeric_runs() -> None:
    assert words("Hello, World! x=42; Ünïcode") == ["hello", "world", "x", "42", "n", "code"]


def test_ngrams_are_a_set_of_word_tuples() -> None:
    assert ngrams(["a", "b", "a", "b"], 2) == {("a", "b"), ("b", "a")}


def test_a_chunk_inside_the_answer_is_a_hit() -> None:
    chunk = Retrieved("faq.html", "use the sorted function to sort a list")
    assert is_hit(chunk, answer=ANSWER, source_file="faq.html")


def test_a_chunk_that_contains_the_answer_is_a_hit() -> None:
    long_chunk = "Many unrelated words come first here. " * 20 + ANSWER
    assert is_hit(Retrieved("faq.html", long_chunk), answer=ANSWER, source_file="faq.html")


def test_the_same_text_from_another_page_is_no_hit() -> None:
    chunk = Retrieved("other.html", ANSWER)
    assert not is_hit(chunk, answer=ANSWER, source_file="faq.html")


def test_the_file_name_is_compared_not_its_folder() -> None:
    chunk = Retrieved("faq.html", ANSWER)
    assert is_hit(chunk, answer=ANSWER, source_file="html/faq.html")
    assert not is_hit(chunk, answer=ANSWER, source_file="html/other-faq.html")


def test_unrelated_text_is_no_hit() -> None:
    chunk = Retrieved("faq.html", "Dictionaries map keys to values and are mutable.")
    assert not is_hit(chunk, answer=ANSWER, source_file="faq.html")


def test_half_of_the_chunks_trigrams_is_enough() -> None:
    # chunk words: a b c d x y -> 3-grams abc bcd cdx dxy; abc and bcd are in the answer (2/4).
    assert is_hit(Retrieved("f", "a b c d x y"), answer="a b c d", source_file="f")
    # a b c x y z -> abc bcx cxy xyz: only 1 of 4 in the chunk; the answer's abc, bcd: 1 of 2.
    assert is_hit(Retrieved("f", "a b c x y z"), answer="a b c d", source_file="f")
    # a b x y z w -> none shared at all.
    assert not is_hit(Retrieved("f", "a b x y z w"), answer="a b c d", source_file="f")


def test_below_half_on_both_sides_is_no_hit() -> None:
    answer = "one two three four five six seven eight"  # 6 trigrams
    chunk = "one two three four nine ten eleven twelve"  # 6 trigrams, 2 shared
    assert not is_hit(Retrieved("f", chunk), answer=answer, source_file="f")


def test_n_shrinks_to_the_shorter_text() -> None:
    # Two words in the chunk: n = 2, and "sorted function" is a bigram of the answer.
    assert is_hit(Retrieved("f", "Sorted function"), answer=ANSWER, source_file="f")
    assert not is_hit(Retrieved("f", "function sorted"), answer=ANSWER, source_file="f")


def test_empty_texts_never_hit() -> None:
    assert not is_hit(Retrieved("f", "!!!"), answer=ANSWER, source_file="f")
    assert not is_hit(Retrieved("f", ANSWER), answer="", source_file="f")


def test_first_hit_rank_looks_within_ten() -> None:
    miss, hit = Retrieved("f", "nothing to see"), Retrieved("f", ANSWER)
    assert first_hit_rank([miss, hit, hit], answer=ANSWER, source_file="f") == 2
    assert first_hit_rank([miss] * 10 + [hit], answer=ANSWER, source_file="f") is None
    assert first_hit_rank([], answer=ANSWER, source_file="f") is None


def test_score_aggregates_recall_and_mrr() -> None:
    scores = score([1, 3, None, 10])
    assert scores.questions == 4
    assert scores.recall_at_1 == pytest.approx(0.25)
    assert scores.recall_at_5 == pytest.approx(0.5)
    assert scores.mrr_at_10 == pytest.approx((1 + 1 / 3 + 0 + 1 / 10) / 4)


def test_score_of_nothing_is_zero() -> None:
    assert score([]).as_dict() == {"questions": 0, "recall@1": 0.0, "recall@5": 0.0, "mrr@10": 0.0}
