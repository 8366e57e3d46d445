"""A token bucket for the embedding API: at most ``rate`` requests a minute in this process,
with bursts up to ``capacity``. Thread-safe; callers block in :meth:`TokenBucket.acquire` until
a token is free. (Prefect's own rate limits are poll-based and far slower under contention, so
precise request-rate limiting happens here, in our code.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        *,
        per_minute: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0  # tokens a second
        self.capacity = capacity if capacity is not None else max(1.0, per_minute / 60.0)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens`` if available and return 0; else return the seconds to wait."""
        if tokens > self.capacity:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.capacity}")
        with self._lock:
            self._refill()
            if self._tokens >= tokens:
                self._tokens -= tokens
                return 0.0
            return (tokens - self._tokens) / self.rate

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until ``tokens`` are taken; returns the seconds waited."""
        waited = 0.0
        while (wait := self.try_acquire(tokens)) > 0:
            self._sleep(wait)
            waited += wait
        return waited
