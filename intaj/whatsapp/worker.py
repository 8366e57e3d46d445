"""The inbox worker: answers the WhatsApp messages the webhook stored, after its 200.

``intaj serve`` runs it (``INTAJ_WHATSAPP_WORKER``, on by default; threads:
``INTAJ_WHATSAPP_WORKER_THREADS``). Each thread claims the oldest inbox row it can
(db/whatsapp.py: ``FOR UPDATE SKIP LOCKED``, so several threads and servers share the inbox),
answers it with :func:`retrieval.answer.answer` (FAQ first, citations, abstention, the
conversation's history), stores both turns and the reply in one transaction, then sends the
reply part by part (intaj/whatsapp/graph.py retries what may be retried). A heartbeat renews
the claims held; a row claimed by a process that died is taken again once its lease
(``INTAJ_WHATSAPP_LEASE_SECONDS``) has passed. The webhook wakes the threads; otherwise they
look every ``INTAJ_WHATSAPP_POLL_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from core.crypto import Keyring, keyring_for
from core.errors import PlanLimitError
from core.settings import Settings
from db import whatsapp as whatsapp_db
from db.chatbots import Chatbot
from db.whatsapp import InboxRow, WhatsAppConnection
from intaj.whatsapp.graph import GraphClient, SendError
from intaj.whatsapp.reply import not_text_reply, reply_text, split
from pipeline import plans
from retrieval.answer import answer
from retrieval.generate import link_hosts
from retrieval.search import load_chatbot

log = logging.getLogger(__name__)

# A free-form reply may be sent up to 24 hours after the customer's message (Meta's customer
# service window); one older than this is not sent (Meta would refuse it, error 131047).
WINDOW = timedelta(hours=24) - timedelta(minutes=1)
MAX_ATTEMPTS = 3  # claims of one row that ended in an error before it is marked failed
_CONVERSATIONS = uuid.UUID("5b0b7d35-2d4e-4a53-9d55-0c6c8a8f3a71")


def conversation_of(chatbot_id: str, sender: str) -> str:
    """One conversation per chatbot and WhatsApp user, the same on every server."""
    return str(uuid.uuid5(_CONVERSATIONS, f"{chatbot_id}:{sender}"))


class InboxWorker:
    def __init__(
        self, pool: ConnectionPool, settings: Settings, *, client: GraphClient | None = None
    ) -> None:
        self.pool, self.settings = pool, settings
        self.client = client or GraphClient.from_settings(settings)
        self._keyring: Keyring | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.settings.whatsapp_worker_threads):
            self._spawn(self._loop, f"whatsapp-inbox-{n}")
        self._spawn(self._heartbeat, "whatsapp-heartbeat")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self.client.close()

    def wake(self) -> None:
        """New rows are in: look now, not at the next poll."""
        self._wake.set()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database away, a bug: log, wait, go on
                log.exception("WhatsApp inbox worker")
                worked = False
            if not worked:
                self._wake.wait(self.settings.whatsapp_poll_seconds)
                self._wake.clear()

    def _heartbeat(self) -> None:
        every = self.settings.whatsapp_lease_seconds / 3
        while not self._stop.wait(every):
            with self._lock:
                claims = list(self._held)
            if claims:
                try:
                    with self.pool.connection() as conn:
                        whatsapp_db.renew(conn, claims=claims)
                except Exception:
                    log.exception("WhatsApp inbox heartbeat")

    def run_once(self) -> bool:
        """Claim one row and work it; False when there was none."""
        with self.pool.connection() as conn:
            row = whatsapp_db.claim(conn, lease_seconds=self.settings.whatsapp_lease_seconds)
        if row is None:
            return False
        with self._lock:
            self._held.add(row.claim)
        try:
            self.work(row)
        except Exception as e:
            log.exception("WhatsApp message %s (attempt %d)", row.wa_message_id, row.attempts)
            if row.attempts >= MAX_ATTEMPTS:
                self._finish(row, f"not answered after {row.attempts} attempts: {e}")
            # else: it stays claimed until its lease passes, then is taken again
        finally:
            with self._lock:
                self._held.discard(row.claim)
        return True

    def work(self, row: InboxRow) -> None:
        if datetime.now(UTC) - row.received_at > WINDOW:
            self._finish(row, "outside the 24-hour customer service window: not sent")
            return
        with self.pool.connection() as conn:
            found = whatsapp_db.connection(
                conn, connection_id=row.connection_id, keyring=self._keys()
            )
        if found is None:
            self._finish(row, "the WhatsApp connection was removed or deactivated")
            return
        reply = row.reply
        if reply is None:
            bot = load_chatbot(self.pool, row.chatbot_id)
            try:  # a message of the owner's plan (issue 27): over it, kept and not answered
                plans.count_message(self.pool, self.settings, user_id=bot.user_id)
            except PlanLimitError as e:
                with self.pool.connection() as conn:
                    whatsapp_db.set_limited(conn, inbox_id=row.id, error=e.message)
                return
            try:
                reply = self._answer(row, bot)
            except BaseException:  # not answered (an outage: retried later, counted again)
                plans.uncount_message(self.pool, user_id=bot.user_id)
                raise
            if reply is None:
                return  # the claim was lost to another worker: it answers
        self._send(row, found, split(reply))

    def _answer(self, row: InboxRow, bot: Chatbot) -> str | None:
        conversation = conversation_of(row.chatbot_id, row.sender)
        metadata: dict[str, Any]
        if row.kind == "text" and row.body:
            message = row.body[: self.settings.api_max_message_chars]
            result = answer(
                self.pool, self.settings, chatbot=bot, message=message,
                conversation_id=conversation, record=False,
            )  # fmt: skip
            hosts = link_hosts(bot, self.settings)
            text = reply_text(result, allow_hosts=hosts, chatbot_language=bot.language_code)
            metadata = {
                "citations": [asdict(c) for c in result.citations],
                "confidence": result.confidence,
                "abstained": result.abstained,
            }
            user = message
        else:
            text, user = not_text_reply(bot.language_code), f"[{row.kind}]"
            metadata = {"not_text": row.kind}
        with self.pool.connection() as conn:
            written = whatsapp_db.record_answer(
                conn, row=row, conversation_id=conversation, user_content=user, reply=text,
                metadata=metadata,
            )  # fmt: skip
        return None if written is None else text

    def _send(self, row: InboxRow, to: WhatsAppConnection, parts: list[str]) -> None:
        for index in range(row.parts_sent, len(parts)):
            try:
                sent, _ = self.client.send_text(
                    phone_number_id=to.phone_number_id, token=to.access_token, to=row.sender,
                    text=parts[index], reply_to=row.wa_message_id if index == 0 else None,
                )  # fmt: skip
            except SendError as e:
                log.warning("WhatsApp reply to %s not sent: %s", row.wa_message_id, e.message)
                self._finish(row, e.message, attempts=e.attempts)
                return
            with self.pool.connection() as conn:
                if not whatsapp_db.part_sent(conn, row=row, outbound_id=sent):
                    return
        self._finish(row, None)

    def _finish(self, row: InboxRow, error: str | None, attempts: int = 0) -> None:
        with self.pool.connection() as conn:
            whatsapp_db.finish(conn, row=row, error=error, attempts=attempts)

    def _keys(self) -> Keyring:
        if self._keyring is None:
            self._keyring = keyring_for(self.settings)
        return self._keyring
