"""Sources of one run overlapped, without Prefect: while source N embeds (the model has the
cores), the next sources are loaded, parsed and chunked, one at a time, up to ``LOOKAHEAD``
ahead, and source N-1 is stored; sources embed one at a time, in order. Each source's swap is
its own transaction, and its result and errors are those of a run on its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any, Literal

from core.errors import IntajError
from pipeline.run import job as lifecycle
from pipeline.run.result import SourceResult

# Sources loaded, parsed and chunked ahead of the one embedding, one after another. A deep
# buffer keeps the preparing thread busy while the model embeds, so a long parse (a manual of
# hundreds of pages) finds the embedder with work queued instead of idle: 26 files of the large
# corpus, 6 manuals among them, alternating A/B on 2 cores: 1 ahead 38.5 s, 4 ahead 33.2 s,
# 8 ahead 31.7 s; two sources preparing at once gained nothing over one (36.1 s, 2 ahead).
# Each waiting source holds only its chunks' text.
LOOKAHEAD = 8

Outcome = tuple[SourceResult, Exception | None]
# How one source of the line runs: (source id, name, line, index) -> its outcome. ``in_line``
# itself, or a wrapper around it (flows/ingest.py: a Prefect task run per source).
RunSource = Callable[[str, str, "Line", int], Outcome]


class Line:
    """The order sources embed in: one at a time, by index. Also what a source embedding now
    may reuse: vectors of earlier sources of this run whose store has not committed (what a
    run one source at a time would find stored)."""

    def __init__(self) -> None:
        self.preparing = threading.Semaphore(1)  # one source loads, parses and chunks at a time
        self.stopping = False
        self._changed = threading.Condition()
        self._next = 0  # the index whose turn it is
        self._skipped: set[int] = set()
        self._unstored: dict[int, lifecycle.Job] = {}

    def embed_in_turn(self, index: int, job: lifecycle.Job | None) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._next == index)
            earlier = self._earlier(job) if job is not None else {}
        try:
            if job is not None and job.error is None and self.stopping:
                job.error = IntajError(
                    "the ingestion was interrupted before this source was embedded; run it again",
                    code="interrupted",
                    transient=True,
                )
            if job is not None:
                lifecycle.embed(job, earlier)
        finally:
            with self._changed:
                if job is not None and job.rows:
                    self._unstored[index] = job
                self._advance()

    def skip(self, index: int) -> None:
        """A source that will never run (cancelled): its turn passes."""
        with self._changed:
            self._skipped.add(index)
            if self._next == index:
                self._advance()

    def stored(self, index: int) -> None:
        """The source's store is over (committed, or failed and will never be)."""
        with self._changed:
            self._unstored.pop(index, None)

    def _advance(self) -> None:
        self._next += 1
        while self._next in self._skipped:
            self._next += 1
        self._changed.notify_all()

    def _earlier(self, job: lifecycle.Job) -> dict[str, Any]:
        if job.loaded is None or job.embedder is None:
            return {}
        earlier: dict[str, Any] = {}
        for other in self._unstored.values():
            if other.loaded is None or other.embedder is None:
                continue
            same_bot = other.loaded.source.chatbot_id == job.loaded.source.chatbot_id
            if same_bot and other.embedder.model_name == job.embedder.model_name:
                earlier.update((r.content_hash, r.embedding) for r in other.rows)
        return earlier


def in_line(
    source_id: str,
    line: Line,
    index: int,
    stages: lifecycle.Stages = lifecycle.PLAIN_STAGES,
    hooks: lifecycle.Hooks | None = None,
) -> Outcome:
    """One source of a line: prepared as soon as a thread takes it, embedded in its turn,
    then stored."""
    try:
        with line.preparing:
            job = lifecycle.prepare(source_id, stages, hooks)
    except BaseException:  # a source that could not even start still hands the turn on
        line.embed_in_turn(index, None)
        raise
    line.embed_in_turn(index, job)
    try:
        return lifecycle.finish(job)
    finally:
        line.stored(index)


def pipelined(
    source_ids: Sequence[str],
    run: RunSource,
    *,
    names: Sequence[str] | None = None,
    lookahead: int = LOOKAHEAD,
) -> Iterator[Outcome]:
    """``run`` for each source (``names``: how ``run`` may call them), in order, with
    neighbouring sources overlapped. The threads run in a copy of this thread's context (an
    orchestrator's run context follows them). Yields each source's result and the error that
    failed it, if any."""
    line = Line()
    # One source embedding, ``lookahead`` being prepared, one storing.
    threads = ThreadPoolExecutor(lookahead + 2, thread_name_prefix="intaj-source")
    labels = list(names) if names is not None else list(source_ids)
    futures = [
        threads.submit(copy_context().run, run, source_id, label, line, index)
        for index, (source_id, label) in enumerate(zip(source_ids, labels, strict=True))
    ]
    try:
        for future in futures:
            yield future.result()
    finally:  # all done, or interrupted: the sources running finish, no other starts
        line.stopping = True
        for index, future in enumerate(futures):
            if future.cancel():  # never started: it must not hold up the ones running
                line.skip(index)
        threads.shutdown(wait=True)


Which = Literal["all", "pending", "failed", "pending_or_failed"]
