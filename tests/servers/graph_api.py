"""A fake of Meta's side of WhatsApp on 127.0.0.1 (stdlib ``http.server``): the Graph API's
``POST /{phone-number-id}/messages`` that the inbox worker sends replies to, and the webhook
deliveries Meta would post (signed like Meta signs them).

What it answers:

- by default 200 with a new message id (``wamid.fake-N``), the send recorded in ``sent``;
- scripted failures first (:meth:`GraphServer.fail`, one per request): ``Fail(429)``, ``Fail(500)``,
  ``Fail(400, code=130429)``, with ``Retry-After`` when given;
- ``down = True``: 500 to everything until set back (a Graph API outage).

Every request is recorded in ``requests`` (path, JSON body, lower-cased headers, time).

    with running_graph_api() as graph:
        graph.fail(Fail(429, retry_after=0), Fail(429, retry_after=0))
        ... INTAJ_WHATSAPP_GRAPH_URL=graph.base_url ...
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from tests.servers.local import InThread, QuietHandler, running, send_json


@dataclass(frozen=True)
class Fail:
    status: int
    code: int | None = None  # the Graph error code in the body (130429: throughput limit)
    retry_after: float | None = None


@dataclass(frozen=True)
class Sent:
    """A message the fake accepted."""

    id: str
    phone_number_id: str
    to: str
    text: str
    reply_to: str | None
    token: str
    at: float  # time.time() when accepted


class _Handler(QuietHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.read_json()
        headers = {k.lower(): v for k, v in self.headers.items()}
        graph = self.server.graph
        parts = self.path.strip("/").split("/")
        graph.requests.append({"path": self.path, "body": body, "headers": headers,
                               "at": time.time()})  # fmt: skip
        if len(parts) < 2 or parts[-1] != "messages":
            send_json(self, 404, {"error": {"message": "unknown path", "code": 100}})
            return
        failure = graph.next_failure()
        if failure is not None:
            error = {"message": "scripted failure", "type": "OAuthException",
                     "code": failure.code or failure.status, "fbtrace_id": "fake"}  # fmt: skip
            extra = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            send_json(self, failure.status, {"error": error}, extra)
            return
        sent = graph.accept(parts[-2], body, headers.get("authorization", ""))
        send_json(self, 200, {"messaging_product": "whatsapp",
                         "contacts": [{"input": sent.to, "wa_id": sent.to}],
                         "messages": [{"id": sent.id}]})  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    graph: GraphServer


class GraphServer(InThread):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.sent: list[Sent] = []
        self.down = False
        self._failures: list[Fail] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.graph = self
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v22.0"

    def fail(self, *failures: Fail) -> None:
        """Answer the next requests with these failures, in order."""
        with self._lock:
            self._failures.extend(failures)

    def next_failure(self) -> Fail | None:
        with self._lock:
            if self.down:
                return Fail(500)
            return self._failures.pop(0) if self._failures else None

    def accept(self, phone_number_id: str, body: dict[str, Any], authorization: str) -> Sent:
        context = body.get("context") or {}
        with self._lock:
            sent = Sent(
                id=f"wamid.fake-{next(self._ids)}", phone_number_id=phone_number_id,
                to=str(body.get("to")), text=str((body.get("text") or {}).get("body")),
                reply_to=context.get("message_id"), token=authorization.removeprefix("Bearer "),
                at=time.time(),
            )  # fmt: skip
            self.sent.append(sent)
        return sent

    def replies_to(self, wa_message_id: str) -> list[Sent]:
        return [s for s in list(self.sent) if s.reply_to == wa_message_id]


def running_graph_api() -> AbstractContextManager[GraphServer]:
    return running(GraphServer())


# --- what Meta posts to a webhook ------------------------------------------------------------


def text_message(wa_message_id: str, sender: str, text: str) -> dict[str, Any]:
    return {"from": sender, "id": wa_message_id, "timestamp": str(int(time.time())),
            "type": "text", "text": {"body": text}}  # fmt: skip


def delivery(
    phone_number_id: str,
    messages: Sequence[dict[str, Any]] = (),
    statuses: Sequence[dict[str, Any]] = (),
) -> bytes:
    """A webhook delivery as Meta sends it (its raw bytes, as they are signed)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Customer"}, "wa_id": m["from"]}
                             for m in messages]  # fmt: skip
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA-1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def signature(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` as Meta computes it."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
