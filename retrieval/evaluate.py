"""A chatbot owner's evaluation of its retrieval (``intaj eval``).

Questions come from the chatbot's own FAQs by default (question -> answer), or from a JSONL
file, one ``{"question", "answer", "source"}`` object a line: ``answer`` is the text a good
passage holds (``null`` or missing: the knowledge cannot answer it, and the chatbot should
abstain); ``source``, optional, is the file name the passage must come from.

For every question the chatbot's *documents* are searched as ``intaj ask`` searches them, FAQ
entries left out (else each FAQ would find itself): the rank of the first passage that holds
the answer (retrieval/scoring.py, the rule the benchmarks use) gives recall@1, recall@5 and
MRR@10; and whether ``intaj ask`` would abstain there (retrieval/answer.py ``abstains``)
gives the abstention rate on unanswerable questions and the false-abstention rate on the
answerable ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from psycopg_pool import ConnectionPool

from core.errors import ConfigError
from core.settings import Settings
from core.types import Hit
from db import faqs as faqs_db
from db import sources as sources_db
from db.chatbots import Chatbot
from db.search import Filters
from pipeline.embed.calibration import calibrated
from retrieval.abstention import abstains, confidence
from retrieval.language import detect
from retrieval.scoring import matches, score
from retrieval.search import scope_of, search

WITHIN = 10


@dataclass(frozen=True, slots=True)
class Question:
    question: str
    answer: str | None  # None: not answerable from the knowledge
    source: str | None = None  # file name the answering passage must come from


@dataclass(frozen=True, slots=True)
class Outcome:
    question: Question
    rank: int | None  # first matching passage, 1-based, within 10; None: none (or unanswerable)
    confidence: float
    abstained: bool


@dataclass(frozen=True, slots=True)
class Report:
    outcomes: tuple[Outcome, ...]

    def summary(self) -> dict[str, Any]:
        answerable = [o for o in self.outcomes if o.question.answer is not None]
        unanswerable = [o for o in self.outcomes if o.question.answer is None]
        scores = score([o.rank for o in answerable]).as_dict()
        return {
            "questions": len(self.outcomes),
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "recall@1": scores["recall@1"],
            "recall@5": scores["recall@5"],
            "mrr@10": scores["mrr@10"],
            "false_abstention_rate": _share(answerable),
            "abstention_rate": _share(unanswerable),
        }

    def as_dict(self) -> dict[str, Any]:
        rows = [
            {
                "question": o.question.question,
                "answerable": o.question.answer is not None,
                "rank": o.rank,
                "confidence": o.confidence,
                "abstained": o.abstained,
            }
            for o in self.outcomes
        ]
        return {**self.summary(), "results": rows}

    def table(self) -> str:
        """One line per question (rank of the answer, confidence, abstains), then totals."""
        lines = ["rank  conf.  abstains  question"]
        for o in self.outcomes:
            rank = "-" if o.question.answer is None else str(o.rank or ">10")
            flag = "yes" if o.abstained else ""
            lines.append(f"{rank:>4}  {o.confidence:.2f}  {flag:<8}  {o.question.question[:70]}")
        s = self.summary()
        lines.append(
            f"{s['answerable']} answerable: recall@1 {s['recall@1']:.3f}  recall@5"
            f" {s['recall@5']:.3f}  MRR@10 {s['mrr@10']:.3f}  false abstention"
            f" {_percent(s['false_abstention_rate'])}"
        )
        lines.append(
            f"{s['unanswerable']} unanswerable: abstention {_percent(s['abstention_rate'])}"
        )
        return "\n".join(lines)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _share(outcomes: Sequence[Outcome]) -> float | None:
    return sum(o.abstained for o in outcomes) / len(outcomes) if outcomes else None


def read_questions(path: Path) -> list[Question]:
    """Questions from a JSONL file; a typed error names the line that is wrong."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = row["question"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ConfigError(
                f'{path}:{number}: expected a JSON object with a "question" (and an "answer")'
            ) from e
        answer = row.get("answer")
        questions.append(Question(str(text), None if answer is None else str(answer),
                                  row.get("source")))  # fmt: skip
    return questions


def faq_questions(pool: ConnectionPool, *, chatbot_id: str) -> list[Question]:
    with pool.connection() as conn:
        return [
            Question(f.question, f.answer) for f in faqs_db.list_for(conn, chatbot_id=chatbot_id)
        ]


def first_match(hits: Sequence[Hit], question: Question, names: dict[str, str]) -> int | None:
    """1-based rank of the first hit (within 10) that holds the question's answer."""
    if question.answer is None:
        return None
    for rank, hit in enumerate(hits[:WITHIN], start=1):
        name = PurePosixPath(names.get(hit.source_id or "", hit.source)).name
        if question.source and name != PurePosixPath(question.source).name:
            continue
        if matches(hit.content, question.answer):
            return rank
    return None


def evaluate(
    pool: ConnectionPool,
    settings: Settings,
    *,
    chatbot: Chatbot,
    questions: Sequence[Question] | None = None,
) -> Report:
    """Search the chatbot's documents for each question (its FAQs when none are given)."""
    if questions is None:
        questions = faq_questions(pool, chatbot_id=chatbot.id)
    if not questions:
        raise ConfigError(
            "nothing to evaluate: the chatbot has no FAQs; add some (intaj faq add) or pass"
            " --questions FILE"
        )
    scope = scope_of(chatbot, settings)
    settings = calibrated(settings, scope.embedder.model_name)
    with pool.connection() as conn:
        names = {s.id: s.name or s.path for s in sources_db.list_for(conn, chatbot_id=chatbot.id)}
    vectors = scope.embedder.embed_queries([q.question for q in questions])
    documents = Filters(kinds=("document",))
    outcomes = []
    for q, vector in zip(questions, vectors, strict=True):
        hits = search(
            pool, settings, chatbot=chatbot, query=q.question, k=WITHIN,
            filters=documents, query_vector=vector,
        )  # fmt: skip
        outcomes.append(
            Outcome(
                q,
                first_match(hits, q, names),
                confidence(hits),
                abstains(hits, settings, detect(q.question)),
            )
        )
    return Report(tuple(outcomes))
