"""The embedding API's token bucket: bursts up to capacity, then the configured rate."""

from __future__ import annotations

import pytest

from core.settings import Settings
from pipeline.embed.ratelimit import TokenBucket
from pipeline.embed.registry import PROVIDERS


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_allows_a_burst_then_paces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute=120, capacity=3, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(7)]
    assert waits[:3] == [0, 0, 0]
    assert all(w == pytest.approx(0.5) for w in waits[3:])  # 120/min: one every 0.5 s
    assert clock.now == pytest.approx(2.0)


def test_bucket_refills_while_idle_up_to_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute=60, capacity=2, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    clock.now += 100  # a long pause refills only up to the capacity
    assert [bucket.try_acquire(), bucket.try_acquire()] == [0, 0]
    assert bucket.try_acquire() == pytest.approx(1.0)


def test_openai_provider_gets_the_configured_limit() -> None:
    settings = Settings(
        embedding_provider="openai",
        openai_api_key="sk-test",  # type: ignore[arg-type]
        embedding_requests_per_minute=600,
    )
    embedder = PROVIDERS["openai"](settings, "text-embedding-3-small")
    limiter = embedder.limiter  # type: ignore[attr-defined]
    assert isinstance(limiter, TokenBucket)
    assert limiter.rate == pytest.approx(10.0)
