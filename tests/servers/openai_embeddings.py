"""An OpenAI-compatible embeddings server on 127.0.0.1 (stdlib ``http.server``), reached by the
real ``openai`` client through ``OPENAI_BASE_URL`` (test plan §6.4, R5 "R-EMB").

``POST /v1/embeddings`` answers with deterministic vectors: a hashed bag of words, so the same
text always gets the same vector and texts sharing words are near each other (enough for search
tests). ``dimensions`` in the request is honoured; otherwise the model's native dimension.

Faults are scripted in order with :meth:`EmbeddingServer.script`; each request takes the next
one, and once the script is used up requests succeed:

    Fault.rate_limited(retry_after=1)  429 with ``Retry-After``
    Fault.error(500)                   an error status
    Fault.unauthorized()               401 quoting the presented API key
    Fault.hang(seconds)                no reply for ``seconds`` (beyond the client's timeout)
    Fault.wrong_dimensions(n)          200 with n-dimension vectors
    Fault.short()                      200 with one vector fewer than inputs

Every request is recorded in ``server.requests`` (model, inputs, dimensions, status), so tests
count HTTP calls and embedded inputs.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

import numpy as np

from tests.servers.local import InThread, QuietHandler, running, send_json

NATIVE = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
_WORD = re.compile(r"\w+")


def fake_vector(text: str, dimensions: int) -> np.ndarray:
    """A deterministic, normalised bag-of-words vector for ``text``."""
    vector = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        n = int.from_bytes(digest, "little")
        vector[n % dimensions] += 1.0 if (n >> 32) & 1 else -1.0
    if not vector.any():
        vector[0] = 1.0
    normalised: np.ndarray = vector / np.linalg.norm(vector)
    return normalised


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 200
    seconds: float = 0.0
    dimensions: int = 0

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> Fault:
        return cls("rate_limited", 429, seconds=retry_after)

    @classmethod
    def error(cls, status: int = 500) -> Fault:
        return cls("error", status)

    @classmethod
    def unauthorized(cls) -> Fault:
        """401 whose message quotes the presented API key in full (a careless server)."""
        return cls("unauthorized", 401)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def wrong_dimensions(cls, dimensions: int) -> Fault:
        return cls("wrong_dimensions", dimensions=dimensions)

    @classmethod
    def short(cls) -> Fault:
        return cls("short")


@dataclass
class Request:
    model: str
    inputs: list[str]
    dimensions: int | None
    status: int = 200
    at: float = field(default_factory=time.monotonic)

    def model_unknown(self) -> bool:
        return self.dimensions is None and self.model not in NATIVE


class _Handler(QuietHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.read_json()
        owner = self.server.owner
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        request = Request(body["model"], list(inputs), body.get("dimensions"))
        fault = owner.next_fault(request)
        with suppress(BrokenPipeError, ConnectionResetError):
            self.answer(body, request, fault)

    def answer(self, body: dict, request: Request, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "hang":
            time.sleep(fault.seconds)
            send_json(self, 500, {"error": {"message": "hung", "type": "server_error"}})
            return
        if fault is not None and fault.status != 200:
            headers = {"Retry-After": f"{fault.seconds:g}"} if fault.status == 429 else {}
            message = "rate limited" if fault.status == 429 else "scripted failure"
            if fault.kind == "unauthorized":
                message = f"Incorrect API key provided: {self.headers.get('Authorization')}"
            send_json(self, fault.status, {"error": {"message": message, "type": "x"}}, headers)
            return
        if request.model_unknown():
            send_json(self, 404, {"error": {"message": f"no model {request.model}", "type": "x"}})
            return
        dims = request.dimensions or NATIVE[request.model]
        if fault is not None and fault.kind == "wrong_dimensions":
            dims = fault.dimensions
        texts = (
            request.inputs[:-1] if fault is not None and fault.kind == "short" else request.inputs
        )
        data = []
        for i, text in enumerate(texts):
            vector = fake_vector(text, dims)
            if body.get("encoding_format") == "base64":
                embedding: object = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                embedding = vector.tolist()
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(len(t.split()) for t in request.inputs)
        send_json(
            self,
            200,
            {
                "object": "list",
                "data": data,
                "model": request.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: EmbeddingServer


class EmbeddingServer(InThread):
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def script(self, *faults: Fault) -> None:
        """Faults for the next requests, in order (replacing any left over)."""
        with self._lock:
            self._faults = list(faults)

    def next_fault(self, request: Request) -> Fault | None:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                request.status = fault.status if fault.kind != "hang" else 0
            self.requests.append(request)
        return fault

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    @property
    def calls(self) -> int:
        """HTTP calls received, failed ones included."""
        return len(self.requests)

    @property
    def inputs(self) -> int:
        """Texts embedded (in successful replies)."""
        return sum(len(r.inputs) for r in self.requests if r.status == 200)

    def embedded_texts(self) -> list[str]:
        return [t for r in self.requests if r.status == 200 for t in r.inputs]


def running_embedding_server() -> AbstractContextManager[EmbeddingServer]:
    return running(EmbeddingServer())
