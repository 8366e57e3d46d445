"""The one retry policy of the pipeline: transient errors only (``IntajError.transient``:
connection drops, provider outages), after each delay of :data:`RETRY_DELAYS`. The Prefect
tasks of ``flows/`` retry with the same delays and condition; :func:`retried` is the policy as
a plain call (a stage run inside a per-source task)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from core.errors import IntajError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_DELAYS = (1.0, 5.0)  # seconds before each retry of a stage (transient errors only)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is worth another try."""
    return isinstance(error, IntajError) and error.transient


def retried(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` retried on transient errors as the retrying stage tasks are, as a plain call."""

    def call(*args: Any, **kwargs: Any) -> T:
        for delay in RETRY_DELAYS:
            try:
                return fn(*args, **kwargs)
            except IntajError as e:
                if not e.transient:
                    raise
                log.warning("%s failed (%s); retrying in %g s", fn.__name__, e.message, delay)
                time.sleep(delay)
        return fn(*args, **kwargs)  # the last try: its error is the stage's

    call.__name__ = getattr(fn, "__name__", "call")
    return call
