"""The numbers an operator watches (issue 27; docs/operations.md, "Metrics"): Prometheus
metrics of this process, recorded where things happen and served by ``intaj serve``'s
``/metrics`` and the warm worker's (``intaj serve-flows``).

Off until a server calls :func:`enable`: a CLI command records nothing and never imports
``prometheus_client`` (60 ms). Labels hold only bounded values (a route's template, a status,
an outcome, an error code, a model name), never an id, an owner or any chatbot content, so the
series count does not grow with chatbots, owners or messages."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

_lock = threading.Lock()
_metrics: dict[str, Any] = {}
_queue: list[Callable[[], Mapping[str, int]]] = []  # what reads the queue, at each scrape
STATUSES = ("pending", "processing", "ready", "failed")
# Request latency buckets (seconds): an answer takes from tens of milliseconds to seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OUTCOMES = ("faq", "abstained", "llm", "extractive")


def enable() -> None:
    """Create this process's metrics (idempotent)."""
    with _lock:
        if _metrics:
            return
        from prometheus_client import Counter, Gauge, Histogram

        _metrics.update(
            requests=Counter(
                "intaj_http_requests", "HTTP requests answered", ["method", "route", "status"]
            ),
            latency=Histogram(
                "intaj_http_request_seconds", "HTTP request latency (to the reply's start)",
                ["method", "route", "status"], buckets=LATENCY_BUCKETS,
            ),
            streams=Gauge("intaj_sse_streams_open", "SSE answer streams open now"),
            answers=Counter("intaj_answers", "Answers given, by outcome", ["outcome"]),
            runs=Counter("intaj_ingestion_runs", "Ingestion runs finished", ["status"]),
            failures=Counter(
                "intaj_ingestion_failures", "Ingestion runs failed, by error code", ["code"]
            ),
            chunks=Counter("intaj_embedded_chunks", "Chunks embedded by ingestion"),
            embed_seconds=Counter(
                "intaj_embedding_seconds", "Seconds ingestion spent embedding chunks"
            ),
            loads=Counter("intaj_model_loads", "Embedding models loaded", ["model"]),
        )  # fmt: skip
        for outcome in OUTCOMES:  # present from the start, at 0
            _metrics["answers"].labels(outcome)


def enabled() -> bool:
    return bool(_metrics)


def watch_queue(read: Callable[[], Mapping[str, int]]) -> None:
    """At each scrape, ``intaj_ingestion_queue{status}`` is what ``read()`` returns: the data
    sources in each status (the latest reader set wins; one collector per process)."""
    enable()
    with _lock:
        first = not _queue
        _queue[:] = [read]
    if first:
        from prometheus_client import REGISTRY

        REGISTRY.register(_QueueCollector())


class _QueueCollector:
    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "intaj_ingestion_queue", "Data sources in each status", labels=["status"]
        )
        try:
            counts = _queue[0]() if _queue else {}
        except Exception:  # a database that does not answer: no queue numbers, not a 500
            return
        for status in STATUSES:
            family.add_metric([status], float(counts.get(status, 0)))
        yield family


def request(method: str, route: str, status: int, seconds: float) -> None:
    if _metrics:
        _metrics["requests"].labels(method, route, str(status)).inc()
        _metrics["latency"].labels(method, route, str(status)).observe(seconds)


def stream_opened(change: int) -> None:
    """An SSE stream opened (+1) or closed (-1)."""
    if _metrics:
        _metrics["streams"].inc(change)


def answered(outcome: str) -> None:
    if _metrics and outcome in OUTCOMES:
        _metrics["answers"].labels(outcome).inc()


def ingested(status: str, code: str | None, chunks: int, embed_seconds: float) -> None:
    """A run finished: ``ready`` or ``failed`` (its error code), the chunks it embedded and
    the seconds that took (``rate(chunks) / rate(seconds)``: chunks per second)."""
    if not _metrics:
        return
    _metrics["runs"].labels(status).inc()
    if status == "failed":
        _metrics["failures"].labels(code or "error").inc()
    if chunks:
        _metrics["chunks"].inc(chunks)
        _metrics["embed_seconds"].inc(max(embed_seconds, 0.0))


def model_loaded(model: str) -> None:
    if _metrics:
        _metrics["loads"].labels(model).inc()
