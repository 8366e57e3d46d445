"""The cross-validation helpers of bench/cv.py on tiny hand-made cases."""

from __future__ import annotations

from bench import cv


def test_folds_partition_the_questions_stably() -> None:
    ids = [f"q{i}" for i in range(40)]
    folds = cv.folds(ids)
    assert sorted(q for f in folds for q in f) == sorted(ids)
    assert folds == cv.folds(list(reversed(ids)))  # by id, not by order
    assert all(f for f in folds)


def test_choose_prefers_the_earlier_config_on_ties() -> None:
    ranks = {"a": {"x": 1, "y": 3}, "b": {"x": 1, "y": 3}, "c": {"x": 2, "y": None}}
    assert cv.choose(["a", "b", "c"], ranks, ["x", "y"]) == "a"
    assert cv.choose(["c", "b"], ranks, ["x", "y"]) == "b"


def test_threshold_is_the_highest_that_keeps_answerable_questions() -> None:
    confidence = {"a1": 0.50, "a2": 0.41, "n1": 0.40, "n2": 0.20}
    answerable = {"a1": True, "a2": True, "n1": False, "n2": False}
    t = cv.choose_threshold(confidence, answerable, list(confidence))
    assert t == 0.41  # 0.42 would abstain on a2 (1 of 2 answerable > 2%)
    rates = cv.abstention_rates(confidence, answerable, list(confidence), t)
    assert (rates["abstention"], rates["false_abstention"]) == (1.0, 0.0)
