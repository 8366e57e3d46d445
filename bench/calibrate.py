"""Calibrate the answer thresholds (FAQ-direct, FAQ-over-documents margin, abstain) on the eval
dev set, and print the tables they were chosen from (docs/retrieval.md records the run).

    python -m bench.calibrate                  # ingests bench/data/python-faq/html first
    python -m bench.calibrate --chatbot NAME   # reuse a chatbot holding those pages (no FAQs)

The set: the dev questions become the chatbot's FAQs (question -> gold answer). Asked of them:
- paraphrases (bench/data/calibration/faq_paraphrases.jsonl, written by us, one per FAQ for
  79 of the 89): the FAQ should answer, and it must be the right one;
- each dev question verbatim with *its own FAQ left out* (leave-one-out): no FAQ fits, so an
  FAQ answering directly is an error (the next-closest FAQ is another question);
- off-topic questions (bench/data/calibration/off_topic.jsonl): nothing fits.
For abstention: the dev questions against the pages alone (all answerable: each answer is on
its page) against the off-topic questions (none is).

A hit's score is the cosine similarity of the message and the embedded text (an FAQ's
question, a passage), exactly what retrieval/answer.py compares with the thresholds; the best
document score comes from the real search over the ingested pages.

Rules (precision first: a wrong FAQ given as the answer is worse than answering from the
passages, where the FAQ still competes):
- faq_direct_threshold: the lowest threshold (0.01 steps) at which no negative is answered by
  an FAQ directly;
- faq_top_threshold + faq_margin: among (top, margin) pairs with no negative answered, the
  pair answering the most paraphrases correctly;
- abstain_threshold: 0.02 below the lowest best score of an answerable dev question (rounded
  down to 0.01; the 0.02 is headroom for questions not in the set), and the share of
  off-topic questions it abstains on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.evalset import DATA, chatbot_from_args

CAL = DATA.parent / "calibration"


@dataclass(frozen=True)
class Case:
    """One message: its best FAQ score and which FAQ, the best passage score, and the FAQ that
    should answer (None: no FAQ should)."""

    kind: str
    faq_score: float
    faq_id: str
    doc_score: float
    target: str | None


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


def answered(case: Case, direct: float, top: float, margin: float) -> bool:
    """Whether retrieval/answer.py's faq_match would answer this message from its best FAQ."""
    if case.faq_score >= direct:
        return True
    return case.faq_score >= top and case.faq_score - case.doc_score >= margin


def floor2(x: float) -> float:
    return math.floor(x * 100) / 100


def main() -> None:
    name = chatbot_from_args(__doc__, "calibrate")

    from intaj import services
    from pipeline.embed import get_embedder
    from retrieval.search import search

    ctx = services.context()
    bot = services.chatbot(ctx, name)
    settings = ctx.settings
    embedder = get_embedder(settings, bot.embedding_model or settings.embedding_model)
    dev = _jsonl(DATA / "qa_dev.jsonl")
    paraphrases = _jsonl(CAL / "faq_paraphrases.jsonl")
    off_topic = [q["question"] for q in _jsonl(CAL / "off_topic.jsonl")]

    faq_ids = [q["id"] for q in dev]
    faq_vectors = np.asarray(embedder.embed([q["question"] for q in dev]))

    def best_doc(message: str) -> float:
        hits = search(ctx.pool, settings, chatbot=bot, query=message, k=1, mode="vector")
        return hits[0].score if hits else 0.0

    def case(kind: str, message: str, target: str | None, leave_out: str | None) -> Case:
        sims = faq_vectors @ np.asarray(embedder.embed_queries([message])[0])
        order = [i for i in np.argsort(-sims) if faq_ids[i] != leave_out]
        i = order[0]
        return Case(kind, float(sims[i]), faq_ids[i], best_doc(message), target)

    cases = [case("paraphrase", p["paraphrase"], p["id"], None) for p in paraphrases]
    cases += [case("leave-one-out", q["question"], None, q["id"]) for q in dev]
    cases += [case("off-topic", m, None, None) for m in off_topic]
    positives = [c for c in cases if c.target]
    negatives = [c for c in cases if not c.target]

    def errors(direct: float, top: float, margin: float) -> int:
        wrong_faq = sum(
            answered(c, direct, top, margin) and c.faq_id != c.target for c in positives
        )
        return wrong_faq + sum(answered(c, direct, top, margin) for c in negatives)

    def correct(direct: float, top: float, margin: float) -> int:
        return sum(answered(c, direct, top, margin) and c.faq_id == c.target for c in positives)

    print(f"{len(positives)} paraphrases, {len(negatives)} negatives")
    for kind in ("paraphrase", "leave-one-out", "off-topic"):
        scores = sorted(c.faq_score for c in cases if c.kind == kind)
        print(
            f"best FAQ score, {kind:<13}: min {scores[0]:.3f}  median"
            f" {scores[len(scores) // 2]:.3f}  max {scores[-1]:.3f}"
        )
    print("closest negatives (message kind, best FAQ, score):")
    for c in sorted(negatives, key=lambda c: -c.faq_score)[:6]:
        print(f"  {c.kind:<13} {c.faq_id:<16} {c.faq_score:.3f}  (passages {c.doc_score:.3f})")
    never = 2.0  # a threshold no score reaches: the rule switched off
    print("\nFAQ answers directly above a threshold (top/margin rule off):")
    print("threshold  paraphrases answered right  negatives answered (errors)")
    grid = [round(0.50 + 0.01 * i, 2) for i in range(46)]
    for t in grid[::5]:
        print(f"{t:9.2f}  {correct(t, never, 0):>3}/{len(positives):<24}  {errors(t, never, 0)}")
    direct = next(t for t in grid if errors(t, never, 0) == 0)
    print(f"-> faq_direct_threshold = {direct:.2f}: {correct(direct, never, 0)} right, 0 errors")

    pairs = [
        (top, margin)
        for top in grid
        for margin in (0.0, 0.02, 0.05, 0.08, 0.10, 0.15, 0.20)
        if top < direct and errors(direct, top, margin) == 0
    ]
    top, margin = max(pairs, key=lambda p: (correct(direct, *p), -p[0], -p[1]))
    print(
        f"-> faq_top_threshold = {top:.2f}, faq_margin = {margin:.2f}:"
        f" {correct(direct, top, margin)}/{len(positives)} paraphrases answered right, 0 errors"
    )
    current = (settings.faq_direct_threshold, settings.faq_top_threshold, settings.faq_margin)
    print(f"   current settings {current}: {correct(*current)} right, {errors(*current)} errors")

    answerable = sorted(best_doc(q["question"]) for q in dev)
    unanswerable = sorted(best_doc(m) for m in off_topic)
    abstain = round(floor2(answerable[0]) - 0.02, 2)
    caught = sum(s < abstain for s in unanswerable)
    print(
        f"\nbest passage score, answerable dev questions: min {answerable[0]:.3f}"
        f" median {answerable[len(answerable) // 2]:.3f};"
        f" off-topic: median {unanswerable[len(unanswerable) // 2]:.3f}"
        f" max {unanswerable[-1]:.3f}"
    )
    print(
        f"-> abstain_threshold = {abstain:.2f}: answers every dev question, abstains on"
        f" {caught}/{len(unanswerable)} off-topic questions"
    )
    now = settings.abstain_threshold
    print(
        f"   current {now:.2f}: abstains on {sum(s < now for s in unanswerable)} off-topic,"
        f" {sum(s < now for s in answerable)} answerable"
    )


if __name__ == "__main__":
    main()
