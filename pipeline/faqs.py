"""FAQs into the chunk index: one chunk per FAQ, rewritten when the FAQ changes and embedded
only when its question (the embedded text) is new to the chatbot. A deleted FAQ's chunk goes
with it (foreign key cascade)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from core.errors import IntajError
from db import chunks as chunks_db
from db import faqs as faqs_db
from pipeline.chunk import faq_chunk
from pipeline.embed import Embedder
from pipeline.stages.embedding import embed


@dataclass(frozen=True)
class FaqSync:
    faqs: int
    written: int
    embedded: int
    reused: int


def sync(pool: ConnectionPool, embedder: Embedder, *, chatbot_id: str) -> FaqSync:
    with pool.connection() as conn:
        faqs = faqs_db.list_for(conn, chatbot_id=chatbot_id)
        stored = chunks_db.faq_contents(conn, chatbot_id=chatbot_id, model=embedder.model_name)
    pending = []
    for faq in faqs:
        chunk = faq_chunk(
            question=faq.question, answer=faq.answer, count_tokens=embedder.count_tokens
        )
        if stored.get(faq.id) != (chunk.content_hash, chunk.content):
            pending.append((faq.id, chunk))
    rows, embedded, reused = embed(
        pool, embedder, chatbot_id=chatbot_id, chunks=[c for _, c in pending]
    )
    with pool.connection() as conn:
        chunks_db.ensure_model_index(
            conn, model=embedder.model_name, dimensions=embedder.dimensions
        )
        for (faq_id, _), row in zip(pending, rows, strict=True):
            chunks_db.replace_faq_chunks(
                conn, chatbot_id=chatbot_id, faq_id=faq_id, model=embedder.model_name, rows=[row]
            )
    return FaqSync(len(faqs), len(pending), embedded, reused)


def read_csv(text: str) -> list[tuple[str, str]]:
    """(question, answer) pairs from CSV text with a header naming ``question`` and ``answer``."""
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if "question" not in fields or "answer" not in fields:
        raise IntajError(
            "the FAQ CSV needs a header row with the columns question,answer",
            code="faq_csv_invalid",
        )
    pairs = []
    for line, row in enumerate(reader, start=2):
        question = (row.get(fields["question"]) or "").strip()
        answer = (row.get(fields["answer"]) or "").strip()
        if not question or not answer:
            raise IntajError(
                f"line {line} of the FAQ CSV has an empty question or answer",
                code="faq_csv_invalid",
            )
        pairs.append((question, answer))
    return pairs
