"""Per-key rate limits for the public widget: one token bucket per key, kept in this process.

The buckets are :class:`pipeline.embed.ratelimit.TokenBucket` (the embedding API's limiter):
``per_minute`` messages a minute with bursts up to the same number. At most ``max_keys``
buckets are kept; the least recently used goes first (a key seen again starts full).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pipeline.embed.ratelimit import TokenBucket


class KeyedLimiter:
    def __init__(
        self,
        *,
        per_minute: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute, self.max_keys, self._clock = per_minute, max_keys, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when ``key`` may go on (a token is taken), else the seconds until it may."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = TokenBucket(
                    per_minute=self.per_minute, capacity=self.per_minute, clock=self._clock
                )
                self._buckets[key] = bucket
                while len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
        return bucket.try_acquire()


class WidgetLimits:
    """A widget's limits: per client IP of the widget, then per widget."""

    def __init__(
        self, *, per_widget: int, per_ip: int, clock: Callable[[], float] = time.monotonic
    ):
        self.per_widget = KeyedLimiter(per_minute=per_widget, clock=clock)
        self.per_ip = KeyedLimiter(per_minute=per_ip, clock=clock)

    def take(self, *, widget_id: str, client_ip: str) -> float:
        """0 when the message may go on, else the seconds to wait (nothing is taken then from
        the widget's bucket)."""
        wait = self.per_ip.take(f"{widget_id} {client_ip}")
        return wait if wait > 0 else self.per_widget.take(widget_id)
