"""A small client of the WhatsApp Cloud API (Meta's Graph API), over httpx: one call, sending
a text message, retried where a retry can succeed.

``POST {INTAJ_WHATSAPP_GRAPH_URL}/{phone-number-id}/messages`` with the number's access token.
Retried: HTTP 429 and 5xx, transport errors, and the Graph error codes of throttling and
temporary faults (:data:`RETRY_CODES`: 130429 "rate limit hit", 131056 "pair rate limit", ...),
waiting ``Retry-After`` when the reply names it (up to ``max_wait``), else an exponential
backoff with jitter. Anything else (an expired token, a number outside the 24-hour window) fails
at once. The access token never appears in an error message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from core.crypto import redact
from core.errors import IntajError
from core.settings import Settings

log = logging.getLogger(__name__)

# Graph error codes worth a retry: 1/2 unknown or temporary service error, 4 application
# rate limit, 80007 WABA rate limit, 130429 throughput limit, 131000 something went wrong,
# 131056 too many messages to one customer.
RETRY_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131056})


class SendError(IntajError):
    """The Graph API did not take a message (after retrying what may be retried)."""

    code = "whatsapp_send_failed"

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: the sent message's id, or why not and whether to retry."""

    message_id: str | None
    error: str | None = None
    retry: bool = False
    wait: float | None = None  # what Retry-After asked for


def outcome(response: httpx.Response) -> Outcome:
    """What a reply of the Graph API means (pure)."""
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if response.is_success and isinstance(data, dict):
        sent = data.get("messages")
        if isinstance(sent, list) and sent and isinstance(sent[0], dict) and sent[0].get("id"):
            return Outcome(str(sent[0]["id"]))
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    detail = f"HTTP {response.status_code}" + (f", error {code}" if code is not None else "")
    if message:
        detail += f": {str(message)[:200]}"
    retry = response.status_code == 429 or response.status_code >= 500 or code in RETRY_CODES
    return Outcome(None, detail, retry, _retry_after(response.headers.get("retry-after")))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from Meta; the backoff applies


class GraphClient:
    def __init__(
        self,
        *,
        base_url: str,
        attempts: int = 5,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts, self.backoff, self.max_wait = attempts, backoff, max_wait
        self._sleep = sleep
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphClient:
        return cls(
            base_url=settings.whatsapp_graph_url,
            attempts=settings.whatsapp_send_attempts,
            backoff=settings.whatsapp_send_backoff_seconds,
            max_wait=settings.whatsapp_send_max_wait_seconds,
            timeout=settings.whatsapp_timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def send_text(
        self, *, phone_number_id: str, token: str, to: str, text: str, reply_to: str | None
    ) -> tuple[str, int]:
        """Send ``text`` to ``to`` (quoting ``reply_to``): the new message's id and the
        attempts it took. Raises :class:`SendError` (``attempts`` set) when it is not sent."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"body": text, "preview_url": False},
        }
        if reply_to:
            body["context"] = {"message_id": reply_to}
        url = f"{self.base_url}/{phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {token}"}
        for attempt in range(1, self.attempts + 1):
            try:
                result = outcome(self._http.post(url, json=body, headers=headers))
            except httpx.HTTPError as e:
                result = Outcome(None, f"{type(e).__name__}: {e}", retry=True)
            if result.message_id is not None:
                return result.message_id, attempt
            error = redact(result.error or "no message id in the reply", token)
            if not result.retry or attempt == self.attempts:
                message = f"WhatsApp send failed after {attempt} attempt(s): {error}"
                raise SendError(message, attempts=attempt)
            wait = self._wait(attempt, result.wait)
            log.warning("WhatsApp send: %s; retrying in %.1f s", error, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, asked: float | None) -> float:
        if asked is not None:
            return min(asked, self.max_wait)
        backoff = self.backoff * 2.0 ** (attempt - 1) * (0.5 + random.random())
        return min(backoff, self.max_wait)
