"""An OpenAI-compatible chat server on 127.0.0.1 (stdlib ``http.server``), reached by the real
``openai`` client through a base URL: the LLM of the generation tests.

``POST /v1/chat/completions`` answers non-streamed, or as SSE chunks with ``"stream": true``
(the reply cut into small pieces, so stream handling is exercised). What it replies:

- scripted: :meth:`ChatServer.script` queues replies, one per request (the last one repeats);
- echo (when nothing is scripted): the whole prompt, every message's role and content, so a
  test sees exactly what reached the model — and, like a model that obeys injected text, it
  repeats whatever a retrieved document says;
- a reply can be ``Fail(status)``: that HTTP error instead (``echo_key=True``: its message
  quotes the presented ``Authorization`` header, as careless servers do).

Every request is recorded in ``server.requests`` (the JSON body and the lower-cased headers).

    with running_chat_server() as llm:
        llm.script("Open 9 to 5 [1].")
        ... base_url=llm.base_url ...
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from tests.servers.local import InThread, QuietHandler, running, send_json

PIECE = 5  # characters per streamed chunk


@dataclass(frozen=True)
class Fail:
    status: int
    echo_key: bool = False  # quote the presented API key in the error, as some servers do


def echo(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages)


class _Handler(QuietHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.read_json()
        chat = self.server.chat
        headers = {k.lower(): v for k, v in self.headers.items()}
        chat.requests.append({"path": self.path, "body": body, "headers": headers})
        if self.path.rstrip("/") != "/v1/chat/completions":
            send_json(self, 404, {"error": {"message": "not found"}})
            return
        reply = chat.next_reply(body.get("messages") or [])
        if isinstance(reply, Fail):
            message = "scripted failure"
            if reply.echo_key:
                message = f"Incorrect API key provided: {headers.get('authorization', '')}"
            send_json(self, reply.status, {"error": {"message": message, "code": None}})
        elif body.get("stream"):
            self._stream(body.get("model", ""), reply)
        else:
            send_json(self, 200, completion(body.get("model", ""), reply))

    def _stream(self, model: str, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        pieces = [text[i : i + PIECE] for i in range(0, len(text), PIECE)]
        for n, piece in enumerate([*pieces, None]):
            delta = {"content": piece} if piece is not None else {}
            if n == 0:
                delta["role"] = "assistant"
            chunk = {
                "id": "chatcmpl-test", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta,
                             "finish_reason": None if piece is not None else "stop"}],
            }  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            if self.server.chat.pause and piece is not None:
                time.sleep(self.server.chat.pause)
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


def completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text},
             "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    chat: ChatServer


class ChatServer(InThread):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: list[str | Fail] = []
        self.pause = 0.0  # seconds between streamed chunks (a model that takes its time)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.chat = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: str | Fail) -> None:
        """Reply with these, in order (the last one repeats); no script: echo the prompt."""
        with self._lock:
            self._script = list(replies)

    def next_reply(self, messages: list[dict[str, Any]]) -> str | Fail:
        with self._lock:
            if not self._script:
                return echo(messages)
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]


def running_chat_server() -> AbstractContextManager[ChatServer]:
    return running(ChatServer())
